"""JUnit XML, as CI systems read it: one ``testsuite`` of test cases, each passed, failed (the
expectation did not hold) or in error (it could not run), with what it printed. Used by
``uclab run`` (``--junit``, ``--all``) and ``uclab firewall check --batch``; a shard's suite
carries the property ``shard`` (``uclab junit merge`` checks it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET


@dataclass(frozen=True)
class Case:
    """One test case. ``failure`` is the text of a failed expectation (``failure_message``,
    its one-line summary, defaults to it); ``error`` says why it could not run."""

    classname: str
    name: str
    seconds: float
    error: str | None = None
    failure: str | None = None
    failure_message: str | None = None
    failure_type: str = "failure"
    out: str | None = None


def suite_xml(name: str, cases: Sequence[Case], shard: str | None = None) -> str:
    """The XML document of one test suite named ``name`` (`` (shard K/N)`` added)."""
    suite = ET.Element("testsuite", name=name + (f" (shard {shard})" if shard else ""),
                       tests=str(len(cases)))
    if shard is not None:
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="shard", value=shard)
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=c.classname, name=c.name,
                             time=f"{c.seconds:.3f}")
        if c.error is not None:
            ET.SubElement(case, "error", message=c.error, type="setup").text = c.error
        elif c.failure is not None:
            ET.SubElement(case, "failure", message=c.failure_message or c.failure,
                          type=c.failure_type).text = c.failure
        if c.out is not None:
            ET.SubElement(case, "system-out").text = c.out
    suite.set("failures", str(sum(c.error is None and c.failure is not None for c in cases)))
    suite.set("errors", str(sum(c.error is not None for c in cases)))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode")
