"""Public API of the artifacts package: `llm_artifacts` and `LlmArtifactInfo`."""

load("//private:llm_artifacts.bzl", _LlmArtifactInfo = "LlmArtifactInfo", _llm_artifacts = "llm_artifacts")

LlmArtifactInfo = _LlmArtifactInfo
llm_artifacts = _llm_artifacts
