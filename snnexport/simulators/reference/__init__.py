"""Reference simulator: the ground truth of ``snnexport verify`` (semantics in SEMANTICS.md)."""

from .runner import (Program, ReferenceSimulator, compile_graph, forget_programs, init_state, program_for,  # noqa: F401
                     simulate, step)
