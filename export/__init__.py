"""Turns an LLM checkpoint (GGUF or Hugging Face safetensors) into model.mlir, model.irpa and
model_config.json through sharktank's paged-KV-cache export (prefill and decode functions)."""
