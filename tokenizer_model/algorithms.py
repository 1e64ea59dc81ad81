"""The tokenizer algorithms, by the name their tables carry: each is a module with ALGORITHM,
MODULE_NAME (the compiled VM module's name), TABLES, LAYOUT and module_mlir()."""

from __future__ import annotations

from types import ModuleType

from tokenizer_model import bytelevel_module, sentencepiece_module

MODULES: dict[str, ModuleType] = {
    bytelevel_module.ALGORITHM: bytelevel_module,
    sentencepiece_module.ALGORITHM: sentencepiece_module,
}
