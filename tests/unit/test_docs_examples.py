"""The docs' real outputs are current: each example block (docs/examples.py) is no older than
the code it shows, and those that need no lab print today what the docs say."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_examples", ROOT / "docs" / "examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_examples"] = module
    spec.loader.exec_module(module)
    return module


def test_every_example_is_current() -> None:
    examples = _examples()
    found = [ex for page in examples.PAGES for ex in examples.examples(page)]
    assert {ex.needs for ex in found} == {"none", "lab"}  # both kinds are in use
    assert examples.check() == []


def test_an_example_older_than_its_code_is_flagged(tmp_path: Path) -> None:
    examples = _examples()
    page = tmp_path / "page.md"
    page.write_text("<!-- example: uclab up; needs: lab; shows: lab/cli/lab_view.py; "
                    "digest: 000000000000 -->\n```\n$ uclab up\n```\n<!-- /example -->\n")
    examples.PAGES = [page]  # type: ignore[attr-defined]
    [problem] = examples.check()
    assert problem.endswith("is older than lab/cli/lab_view.py: run python docs/examples.py "
                            "--lab NAME (root)")
