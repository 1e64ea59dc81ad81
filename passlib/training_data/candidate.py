"""A generated module that may become training data once the search has labelled it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One generated MLIR module.

    name: unique and stable for a seed (e.g. "program-0007", "torch-0003-linalg");
    kind: the generator and level ("random-program", "torch-export", "linalg-export");
    module_text: the module's text, parseable by iree.compiler's MLIR context with every public
      function taking and returning signless integers, f32 or static tensors of them (so that
      passlib's execution check can make inputs for it).
    """

    name: str
    kind: str
    module_text: str
