"""Tests of the artifacts package: bundle format, generation config, runtime."""
