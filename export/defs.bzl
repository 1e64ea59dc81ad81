"""Public API of the export package: `llm_export` and its provider."""

load("//export/private:export.bzl", _LlmExportInfo = "LlmExportInfo", _llm_export = "llm_export")

LlmExportInfo = _LlmExportInfo
llm_export = _llm_export
