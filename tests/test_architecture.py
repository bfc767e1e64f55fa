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


def test_one_result_schema_everywhere():
    import dataclasses
    import typing

    import numpy as np

    import iuvs
    from iuvs import _core
    from iuvs.survey import COLUMNS

    names = tuple(f[0] for f in _core.RESIDUAL_FIELDS)
    counts = {f[0] for f in _core.RESIDUAL_FIELDS if f[1] == "count"}
    assert {"n_masked", "n_hot", "n_clipped", "frac_mean"} <= set(names)
    # the dataclass, in the core's order, counts typed int and the rest float
    fields = dataclasses.fields(iuvs.ResidualStats)
    assert tuple(f.name for f in fields) == names
    hints = typing.get_type_hints(iuvs.ResidualStats)
    assert all(hints[n] is (int if n in counts else float) for n in names)
    # the stub declares what the module exports
    stub = (Path(iuvs.__file__).parent / "_core.pyi").read_text()
    assert "RESIDUAL_FIELDS:" in stub and "FIT_FLOAT_NAMES:" in stub
    # a fit's stats, the batch columns and the survey columns carry every name
    rng = np.random.default_rng(0)
    x = rng.integers(100, 900, (20, 30)).astype(np.int32)
    mask = np.zeros(x.shape, bool)
    mask[0, :3] = True
    x[1, 0] = 50_000  # hot
    fit = iuvs.fit(x, 2 * x + 1, rank=1, mask=mask, hot_threshold=10_000)
    assert (fit.stats.n_masked, fit.stats.n_hot) == (3, 1)
    assert fit.stats.n_excluded == 4 and fit.stats.n_used == x.size - 4
    batch = iuvs.fit_batch(x[None], (2 * x + 1)[None], ranks=[1], mask=mask[None])
    assert [k for k in batch.columns if k in names] == [n for n in names if n not in counts] + [
        n for n in names if n in counts
    ]
    assert batch.columns["n_masked"][0, 0] == 3
    assert batch.fits(0)[0].stats.n_masked == 3
    assert [c for c in COLUMNS if c in names] == list(names)


def test_the_stub_lists_exactly_what_the_core_exports():
    import ast

    import iuvs
    from iuvs import _core

    stub = ast.parse((Path(iuvs.__file__).parent / "_core.pyi").read_text())
    declared = {n.name for n in stub.body if isinstance(n, ast.FunctionDef)}
    declared |= {
        n.target.id
        for n in stub.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    exported = {n for n in dir(_core) if not n.startswith("__") or n == "__version__"}
    assert declared == exported
