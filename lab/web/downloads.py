"""The files a finished call offers for download: the capture (pcapng with the TLS secrets,
written by the run), the HTML ladder, the JSON (the ladder's JSON with the run's report) and
JUnit XML (the scenario as one test case)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from lab.web import present

if TYPE_CHECKING:
    from lab.run import RunResult

FILES = {"pcapng": "run.pcapng", "html": "ladder.html", "json": "run.json", "junit": "run.xml"}


def run_json(result: RunResult) -> dict[str, Any]:
    from lab.ladder.render_json import ladder_json  # noqa: PLC0415

    data: dict[str, Any] = ladder_json(result.ladder) if result.ladder is not None else {}
    run = present.report(result)
    for key in ("arrows", "steps", "columns"):
        run.pop(key, None)
    data["run"] = run
    return data


def junit(result: RunResult) -> str:
    """One test suite with the scenario as its one test case; unmet expectations fail it."""
    name = result.plan.scenario.name
    seconds = f"{result.timings.get('total', 0.0):.3f}"
    suite = ET.Element("testsuite", name="uclab serve", tests="1",
                       failures="0" if result.passed else "1", time=seconds)
    case = ET.SubElement(suite, "testcase", classname="uclab.scenarios", name=name,
                         time=seconds)
    if not result.passed:
        failure = ET.SubElement(case, "failure", message="; ".join(result.unmet))
        failure.text = "\n".join([*result.unmet, *result.diagnosis])
    out = ET.SubElement(case, "system-out")
    ladder = result.ladder
    out.text = ladder.verdict.summary if ladder is not None else result.outcome.reached
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_files(folder: Path, result: RunResult) -> dict[str, Path]:
    """Write the downloads of ``result`` into ``folder`` (the run wrote the capture there)."""
    from lab.ladder import write_outputs  # noqa: PLC0415

    (folder / FILES["json"]).write_text(json.dumps(run_json(result), indent=2) + "\n",
                                        encoding="utf-8")
    (folder / FILES["junit"]).write_text(junit(result), encoding="utf-8")
    if result.ladder is not None:
        write_outputs(result.ladder, html_path=folder / FILES["html"])
    return {kind: folder / name for kind, name in FILES.items() if (folder / name).exists()}
