"""Reference simulator: the ground truth of ``snnexport verify`` (semantics in SEMANTICS.md)."""

from .runner import Program, ReferenceSimulator, compile_graph, init_state, simulate, step  # noqa: F401
