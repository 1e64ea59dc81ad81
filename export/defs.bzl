"""Public API of the export package: `llm_export`, its provider, and `llm_finetune`."""

load("//export/private:export.bzl", _LlmExportInfo = "LlmExportInfo", _llm_export = "llm_export")
load("//export/private:llm_finetune.bzl", _llm_finetune = "llm_finetune")

LlmExportInfo = _LlmExportInfo
llm_export = _llm_export
llm_finetune = _llm_finetune
