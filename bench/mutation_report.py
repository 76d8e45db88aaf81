"""Per-module figures of a mutmut run over lab/proto (read from ``mutants/``, what ``mutmut run``
leaves): mutants killed and survived, survivors split into text/log ones (only a string
literal or a logging call changed: reason phrases, log lines) and logic ones, the mutants no
test covers, the ones not run yet, and the kill rates.

    .venv/bin/python bench/mutation_report.py [--under lab/proto/turn] [--survivors]
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import sys
from pathlib import Path

NO_TESTS = 33  # mutmut's exit code for "no test covers this mutant"


class _Blank(ast.NodeTransformer):
    """Replaces string literals and logging calls by one constant."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "log":
            return ast.Constant("LOG")
        if isinstance(f, ast.Attribute) and f.attr in ("info", "warning", "debug", "exception"):
            return ast.Constant("LOG")
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant("S") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return ast.Constant("S")


def _shape(fn: ast.AST) -> str:
    tree = ast.parse(ast.unparse(fn))
    first = tree.body[0]
    if isinstance(first, ast.FunctionDef | ast.AsyncFunctionDef):
        first.name = "f"
    return ast.dump(_Blank().visit(tree))


def _functions(source: str) -> dict[str, ast.AST]:
    return {n.name: n for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def tally(root: Path, under: str) -> tuple[list[tuple[str, collections.Counter[str]]], list[str]]:
    rows: list[tuple[str, collections.Counter[str]]] = []
    logic: list[str] = []
    for meta in sorted(root.glob("lab/proto/**/*.py.meta")):
        name = str(meta.relative_to(root))[:-len(".meta")]
        codes: dict[str, int | None] = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if not name.startswith(under) or not codes:
            continue
        fns = _functions((root / name).read_text())
        c: collections.Counter[str] = collections.Counter(mutants=len(codes))
        for key, code in codes.items():
            if code is None:
                c["unrun"] += 1
            elif code == NO_TESTS:
                c["no test"] += 1
            elif code != 0:
                c["killed"] += 1
            else:
                c["survived"] += 1
                fname = key.rsplit(".", 1)[-1]
                orig = fname.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
                if fname in fns and orig in fns and _shape(fns[fname]) == _shape(fns[orig]):
                    c["text/log"] += 1
                else:
                    logic.append(key)
        rows.append((name, c))
    return rows, logic


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=Path, default=Path("mutants"))
    ap.add_argument("--under", default="lab/proto/")
    ap.add_argument("--survivors", action="store_true", help="list the logic survivors")
    args = ap.parse_args()
    rows, logic = tally(args.mutants, args.under)
    print("| module | mutants | killed | survived (text/log) | no test | not run | kill rate | "
          "logic kill rate |")
    print("|---|---|---|---|---|---|---|---|")
    for name, c in rows:
        checked = c["killed"] + c["survived"]
        logic_n = checked - c["text/log"]
        rate = f"{100 * c['killed'] / checked:.0f}%" if checked else "-"
        lrate = f"{100 * c['killed'] / logic_n:.0f}%" if logic_n else "-"
        print(f"| {name.removeprefix('lab/proto/')} | {c['mutants']} | {c['killed']} | "
              f"{c['survived']} ({c['text/log']}) | {c['no test']} | {c['unrun']} | {rate} | "
              f"{lrate} |")
    if args.survivors:
        print("\nlogic survivors (`mutmut show NAME`):")
        print("\n".join(logic))
    return 0


if __name__ == "__main__":
    sys.exit(main())
