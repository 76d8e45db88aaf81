"""Pictures that show everything: no text of the ladder SVG beyond its width (the HTML page
scales it to the page instead of clipping it), and no interface name of the topology graph
written on a link line."""

from __future__ import annotations

import re

import pytest

from lab import topology
from lab.ladder.render_html import _CSS
from lab.ladder.render_svg import EM_PER_CHAR, ladder_svg
from lab.topology.graph import svg
from tests.unit.test_scenario_ladder import DATA, scenario_ladder

_LINE = re.compile(r'<line x1="([0-9.]+)" y1="([0-9.]+)" x2="([0-9.]+)" y2="([0-9.]+)"')
_PORT = re.compile(r'<text x="([0-9.]+)" y="([0-9.]+)" class="port"( text-anchor="end")?>'
                   r'([^<]+)</text>')


def test_every_step_name_of_the_ladder_is_inside_the_picture() -> None:
    for name in ("attendee-cannot-share", "connectionbind-timeout"):
        picture = ladder_svg(scenario_ladder(name))
        width = float(re.search(r'<svg [^>]*width="([0-9.]+)"', picture)[1])  # type: ignore[index]
        for x, size, anchor, text in re.findall(
                r'<text x="([0-9.]+)" y="[^"]*" font-size="([0-9]+)" text-anchor="(\w+)"[^>]*>'
                r'([^<]*)</text>', picture):
            if anchor == "start":
                # Helvetica's letters average 0.5-0.55 em; EM_PER_CHAR is a bound above that
                assert float(x) + len(text) * int(size) * EM_PER_CHAR <= width, text
    assert ".svg svg{max-width:100%;height:auto}" in _CSS


def _crosses(box: tuple[float, float, float, float], line: tuple[float, ...]) -> bool:
    """Does the segment cross the rectangle (x0, y0, x1, y1)? Sampled along its length."""
    x0, y0, x1, y1 = box
    ax, ay, bx, by = line
    return any(x0 <= ax + (bx - ax) * t / 200 <= x1 and y0 <= ay + (by - ay) * t / 200 <= y1
               for t in range(201))


def test_no_interface_name_of_the_graph_is_written_on_a_link() -> None:
    picture = svg(topology.load())
    lines = [tuple(map(float, m)) for m in _LINE.findall(picture)]
    ports = _PORT.findall(picture)
    assert len(ports) == len(lines) == 9  # one per end of a segment
    for x, y, end, name in ports:
        width = len(name) * 10 * 0.6  # 10 px monospace
        left = float(x) - width if end else float(x)
        box = (left, float(y) - 9, left + width, float(y) + 2)
        assert not any(_crosses(box, line) for line in lines), name


def test_the_ladder_fits_80_columns_and_cuts_no_address_or_value(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``uclab ladder --width 80``: every line fits, every column's address is whole, and a
    value written under an arrow (an SDP media line ending in its port) continues on the next
    line instead of being cut."""
    from lab.cli import main  # noqa: PLC0415

    main(["ladder", str(DATA / "attendee-cannot-share.pcapng"), "--width", "80"])
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    ladder = scenario_ladder("attendee-cannot-share")
    for col in ladder.names.columns:
        for address in col.addresses:
            assert address in out
    flat = re.sub(r"[\s│]+", " ", out)
    assert flat.count("m=applicationsharing 51577 TCP/RTP/AVP 127") == 3
