"""lab.base.datafile: strict, type-driven reading of YAML with file, line and fix in every error."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Literal

import pytest

from lab.base import datafile
from lab.base.datafile import Deferred
from lab.base.errors import InputError
from lab.topology.values import HostPort, PortRange, RouteTarget


@dataclass(frozen=True)
class Inner:
    port: int
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    hosts: tuple[HostPort, ...] = ()
    ranges: tuple[PortRange, ...] = ()
    users: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    later: Deferred | None = None
    flag: bool = False
    ratio: float = 1.0
    addr: IPv4Address | None = None


def read(text: str) -> Outer:
    return datafile.parse(text, "/data/x.yaml").read(Outer)


def error(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        read(text)
    assert info.value.path == Path("/data/x.yaml")
    return info.value


def test_reads_every_kind_of_value() -> None:
    o = read("name: 0123\ninner: {port: 5061, mode: b}\nhosts: 10.0.0.1:443\n"
             "ranges: [24000-29999, 53577]\nusers: {cms: s3cret}\nfile: p/f.nft\n"
             "later: {anything: [1, 2]}\nflag: false\nratio: 2\naddr: 10.1.2.3\n")
    assert o.name == "0123"  # strings are taken as written, never as YAML numbers
    assert o.inner == Inner(5061, "b")
    assert o.hosts == (HostPort(IPv4Address("10.0.0.1"), 443),)  # one item stands for a list
    assert o.ranges == (PortRange(24000, 29999), PortRange(53577, 53577))
    assert o.users == {"cms": "s3cret"}
    assert o.file == Path("/data/p/f.nft")  # relative to the file's folder
    assert o.later == Deferred(("later",))
    assert o.flag is False and o.ratio == 2.0 and o.addr == IPv4Address("10.1.2.3")


def test_errors_name_the_line_and_the_fix() -> None:
    e = error("name: x\ninner:\n  port: 5061\n  mdoe: a\n")
    assert (e.line, e.message) == (4, "inner.mdoe: unknown key")
    assert e.fix is not None and e.fix.startswith("did you mean 'mode'?")
    e = error("name: x\ninner: {port: 50a}\n")
    assert e.line == 2 and "expected a whole number, found '50a'" in e.message
    e = error("name: x\ninner: {port: 1, mode: c}\n")
    assert e.fix == "use one of: a, b"
    e = error("name: x\n")
    assert e.line == 1 and "the key 'inner' is missing" in e.message
    e = error("name: x\ninner: {port: 1}\nhosts: [10.0.0.1]\n")
    assert e.message.startswith("hosts[0]: '10.0.0.1' is not an address:port")
    e = error("name: x\ninner: {port: 1}\nranges: 30000-20000\n")
    assert "ends before it starts" in e.message
    e = error("name: x\ninner: [1, 2]\n")
    assert "expected a mapping, found a list" in e.message
    e = error("name: x\ninner: {port: 1}\nflag: on\n")
    assert e.fix == "write true or false"
    e = error("name: x\ninner: {port: 1}\nusers: [a]\n")
    assert "expected a mapping" in e.message
    e = error("name:\ninner: {port: 1}\n")
    assert "expected a text value, found empty" in e.message


def test_yaml_level_errors() -> None:
    e = error("name: x\nname: y\ninner: {port: 1}\n")
    assert e.line == 2 and "duplicate key (first on line 1)" in e.message
    e = error("base: &b {port: 1}\ninner:\n  <<: *b\n")
    assert e.line == 3 and "plain names" in e.message
    e = error("name: [x\n")
    assert e.message.startswith("YAML syntax")
    with pytest.raises(InputError, match="file not found"):
        datafile.load("/nonexistent/topology.yaml")


def test_override_with_base_and_lines() -> None:
    base = read("name: x\ninner: {port: 1, mode: b}\nflag: true\n")
    doc = datafile.parse("over:\n  inner: {port: 2}\n", "s.yaml")
    o = doc.read(Outer, ("over",), base=base)
    assert o.inner == Inner(2, "b") and o.flag is True and o.name == "x"
    assert doc.read(Outer, ("missing",), base=base) is base
    assert doc.line(("over", "inner", "port")) == 2
    assert doc.line(("over", "nope", "deeper")) == 2  # nearest existing parent
    assert datafile.dotted(("segments", "lan", "endpoints", 1)) == "segments.lan.endpoints[1]"


def test_value_types_print_as_written() -> None:
    assert str(HostPort.from_text("10.149.4.10:443")) == "10.149.4.10:443"
    assert str(PortRange.from_text("24000-29999")) == "24000-29999"
    assert 24000 in PortRange.from_text("24000-29999")
    assert len(PortRange.from_text("24000-29999")) == 6000
    assert str(RouteTarget.from_text("traversal")) == "traversal"
    assert RouteTarget.from_text("10.48.54.230:5061").next_hop == HostPort.from_text(
        "10.48.54.230:5061")
    with pytest.raises(ValueError, match="outside 1-65535"):
        HostPort.from_text("1.2.3.4:0")
