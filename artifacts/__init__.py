"""The LLM bundle format (files + manifest.json) and the runtime that loads a bundle and generates."""
