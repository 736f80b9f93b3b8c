"""Reference simulator: the ground truth of ``snnexport verify`` (semantics in SEMANTICS.md)."""

from .program import Program, compile_graph, forget_programs, program_for  # noqa: F401
from .runner import ReferenceSimulator, init_state, simulate, step  # noqa: F401
