"""The shape of the house: the Rust core's modules import each other without circles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_of(path: Path) -> str:
    # a folder (src/fit/) is one module at this level, as the issue counts them
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.rs"):
        me = module_of(path)
        if me in ("lib", "python"):
            continue
        uses = set(re.findall(r"crate::([a-z_]+)", path.read_text()))
        graph.setdefault(me, set()).update(u for u in uses if u != me)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


@pytest.mark.skipif(not SRC.is_dir(), reason="needs the source tree")
def test_the_core_has_no_import_circle():
    graph = import_graph()
    assert {"fit", "view", "parallel", "stats", "clip", "weighted"} <= set(graph)
    assert find_cycle(graph) is None, find_cycle(graph)
    # the detector itself: a circle is found where there is one
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
