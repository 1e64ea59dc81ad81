"""Session fixtures: each tokenizer module compiled once, tokenizers loaded once, references built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenizer_model import build, bytelevel_module, sentencepiece_module
from tokenizer_model.compile_module import compile_mlir
from tokenizer_model.tables import write_irpa
from tokenizer_model.tests import references
from tokenizer_model.tokenizer import CompiledTokenizer


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compiled_tokenizers")


@pytest.fixture(scope="session")
def bytelevel_vmfb(workspace: Path) -> Path:
    path = workspace / "bytelevel_bpe.vmfb"
    compile_mlir(bytelevel_module.module_mlir(), path)
    return path


@pytest.fixture(scope="session")
def sentencepiece_vmfb(workspace: Path) -> Path:
    path = workspace / "sentencepiece_bpe.vmfb"
    compile_mlir(sentencepiece_module.module_mlir(), path)
    return path


def load_compiled(source: Path, vmfb: Path, workspace: Path, name: str, **options) -> CompiledTokenizer:
    irpa = workspace / f"{name}.irpa"
    if not irpa.exists():
        write_irpa(build.extract(source), irpa)
    return CompiledTokenizer.load(vmfb, irpa, **options)


@pytest.fixture(scope="session")
def corpus() -> list[dict]:
    return references.corpus()


@pytest.fixture(scope="session")
def qwen(bytelevel_vmfb: Path, workspace: Path) -> CompiledTokenizer:
    return load_compiled(references.QWEN_TOKENIZER_JSON, bytelevel_vmfb, workspace, "qwen")


@pytest.fixture(scope="session")
def qwen_reference():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(references.QWEN_TOKENIZER_JSON))


@pytest.fixture(scope="session")
def smollm2(bytelevel_vmfb: Path, workspace: Path) -> CompiledTokenizer:
    return load_compiled(references.SMOLLM2_GGUF, bytelevel_vmfb, workspace, "smollm2")


@pytest.fixture(scope="session")
def smollm2_reference():
    return references.gguf_reference(references.SMOLLM2_GGUF)


@pytest.fixture(scope="session")
def sentencepiece_models(workspace: Path, corpus: list[dict]) -> dict[str, Path]:
    return {name: references.train_sentencepiece(corpus, workspace / f"{name}.model", **settings)
            for name, settings in references.SENTENCEPIECE_SETTINGS.items()}


@pytest.fixture(scope="session")
def sentencepiece_tokenizers(sentencepiece_models: dict[str, Path], sentencepiece_vmfb: Path,
                             workspace: Path) -> dict[str, tuple[CompiledTokenizer, object]]:
    """name -> (compiled tokenizer, sentencepiece reference)."""
    import sentencepiece

    return {name: (load_compiled(path, sentencepiece_vmfb, workspace, name),
                   sentencepiece.SentencePieceProcessor(model_file=str(path)))
            for name, path in sentencepiece_models.items()}
