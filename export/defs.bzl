"""Public API of the export package: `llm_export`, its provider, `llm_finetune`, and the provider of
the pins a downloaded checkpoint carries (`CheckpointPinsInfo`)."""

load("//private:checkpoint_pins.bzl", _CheckpointPinsInfo = "CheckpointPinsInfo")
load("//private:export.bzl", _LlmExportInfo = "LlmExportInfo", _llm_export = "llm_export")
load("//private:llm_finetune.bzl", _llm_finetune = "llm_finetune")

CheckpointPinsInfo = _CheckpointPinsInfo
LlmExportInfo = _LlmExportInfo
llm_export = _llm_export
llm_finetune = _llm_finetune
