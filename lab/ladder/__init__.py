"""The ladder and the canonical-step check of flow.md §3, computed from a capture.

    from lab.ladder import build_ladder, write_outputs
    ladder = build_ladder("run.pcapng", names=names, keylog=None, expect=None)
    ladder.verdict.passed, ladder.verdict.stopped_at, ladder.verdict.node, ladder.verdict.reasons
    ladder.steps          # 33 StepResult: status, observations (time, frame), values, notes
    ladder.rows           # the arrows between the seed's four columns
    ladder.media          # RTP legs with RFC 3550 statistics
    write_outputs(ladder, json_path=..., svg_path=..., html_path=...)

Our own code reads pcap/pcapng, reassembles TCP and decodes STUN/TURN, SIP, RFC 4571 and RTP
with the protocol packages' codecs; tshark (the independent dissector) is called once, and only
when there is TLS to decrypt with the key log.
"""

from __future__ import annotations

from pathlib import Path

from lab.ladder.analysis import Analysis, analyse_capture
from lab.ladder.check import Expectations, check_steps, load_expectations
from lab.ladder.columns import (
    ROLES,
    Column,
    Names,
    infer_names,
    lab_names_for,
    load_names,
    make_names,
    names_from_topology,
)
from lab.ladder.compute import Ladder, Row, build_ladder
from lab.ladder.steps import STEPS, Status, StepResult, StepSpec
from lab.ladder.verdict import Verdict, judge


def write_outputs(ladder: Ladder, *, json_path: Path | None = None,
                  svg_path: Path | None = None, html_path: Path | None = None
                  ) -> list[tuple[str, Path]]:
    """Write the files asked for (``uclab ladder`` and ``uclab run`` share this); what was
    written where, for the CLI to say."""
    from lab.ladder.render_html import write_html  # noqa: PLC0415 - only when asked
    from lab.ladder.render_json import write_json  # noqa: PLC0415
    from lab.ladder.render_svg import write_svg  # noqa: PLC0415

    written = []
    if json_path is not None:
        write_json(ladder, json_path)
        written.append(("the ladder as JSON", json_path))
    if svg_path is not None:
        write_svg(ladder, svg_path)
        written.append(("the ladder as a picture (SVG)", svg_path))
    if html_path is not None:
        write_html(ladder, html_path)
        written.append(("the ladder as a page (HTML)", html_path))
    return written


__all__ = [
    "ROLES",
    "STEPS",
    "Analysis",
    "Column",
    "Expectations",
    "Ladder",
    "Names",
    "Row",
    "Status",
    "StepResult",
    "StepSpec",
    "Verdict",
    "analyse_capture",
    "build_ladder",
    "check_steps",
    "infer_names",
    "judge",
    "lab_names_for",
    "load_expectations",
    "load_names",
    "make_names",
    "names_from_topology",
    "write_outputs",
]
