"""passlib: the LLM-assist pass library of rules_iree_llm.

An LLM proposes a rewrite of an MLIR function (or a pass pipeline for a module); the library parses,
verifies, type-checks and, where inputs can be made, executes the proposal against the original before
anything is written. When the LLM is absent or wrong, the input comes out unchanged and the reason is
recorded in a JSON report.
"""
