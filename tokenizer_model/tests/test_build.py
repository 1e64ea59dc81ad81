"""The build entry point, the IRPA format, the CLI, chunk boundaries, and errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tokenizer_model import build, cli
from tokenizer_model.tables import TokenizerSourceError, read_irpa, write_irpa
from tokenizer_model.tests import references
from tokenizer_model.tokenizer import CompiledTokenizer, safe_split_points


def test_build_is_deterministic_and_leaves_only_its_outputs(tmp_path: Path):
    outputs = []
    for run in ("first", "second"):
        directory = tmp_path / run
        mlir, irpa = directory / "tokenizer.mlir", directory / "tokenizer.irpa"
        assert build.main(["--source", str(references.SMOLLM2_GGUF), "--output-mlir", str(mlir),
                           "--output-irpa", str(irpa)]) == 0
        assert sorted(p.name for p in directory.iterdir()) == ["tokenizer.irpa", "tokenizer.mlir"]
        outputs.append((mlir.read_bytes(), irpa.read_bytes()))
    assert outputs[0] == outputs[1]


def test_one_module_serves_every_vocabulary_of_its_algorithm(tmp_path: Path, qwen, smollm2):
    mlir = {}
    for name, source in (("qwen", references.QWEN_TOKENIZER_JSON), ("smollm2", references.SMOLLM2_GGUF)):
        mlir[name] = tmp_path / f"{name}.mlir"
        assert build.main(["--source", str(source), "--output-mlir", str(mlir[name]),
                           "--output-irpa", str(tmp_path / f"{name}.irpa")]) == 0
    assert mlir["qwen"].read_text() == mlir["smollm2"].read_text()
    # The session fixtures load both vocabularies into the same compiled module file.
    assert qwen.encode("Hello world") == [9707, 1879]
    assert smollm2.encode("Hello world") == [19556, 905]
    assert (qwen.special_token_id("<|im_end|>"), smollm2.special_token_id("<|im_end|>")) == (151645, 2)
    with pytest.raises(KeyError):
        qwen.special_token_id("<|not a token|>")


def test_irpa_round_trip_and_metadata(tmp_path: Path):
    tables = build.extract(references.SMOLLM2_GGUF)
    path = tmp_path / "smollm2.irpa"
    write_irpa(tables, path)
    loaded = read_irpa(path)
    assert loaded.algorithm == tables.algorithm == "bytelevel_bpe"
    assert list(loaded.arrays) == list(tables.arrays)
    for name, array in tables.arrays.items():
        assert loaded.arrays[name].dtype == array.dtype and np.array_equal(loaded.arrays[name], array), name
    assert loaded.metadata["pre_tokenizer"] == "smollm"
    assert (loaded.metadata["bos_token_id"], loaded.metadata["eos_token_id"]) == (1, 2)
    assert len(loaded.metadata["missing_bytes"]) == 21
    assert [t["content"] for t in loaded.metadata["added_tokens"][:3]] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    qwen = build.extract(references.QWEN_TOKENIZER_JSON).metadata
    assert (qwen["normalizer"], qwen["pre_tokenizer"], qwen["eos_token_id"]) == ("nfc", "qwen2", 151645)


def _write_json(path: Path, change) -> Path:
    spec = json.loads(references.QWEN_TOKENIZER_JSON.read_text(encoding="utf-8"))
    change(spec)
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.mark.parametrize("change, message", [
    (lambda spec: spec["model"].update(type="WordPiece"), "model type 'WordPiece' is not BPE"),
    (lambda spec: spec.update(pre_tokenizer={"type": "Metaspace"}), "unsupported pre_tokenizer"),
    (lambda spec: spec.update(normalizer={"type": "NFKC"}), "unsupported normalizer"),
    (lambda spec: spec["added_tokens"][0].update(lstrip=True), "lstrip/rstrip/single_word"),
    (lambda spec: spec["model"]["merges"].append("Ġ zzzunknown"), "missing from the vocabulary"),
])
def test_unsupported_tokenizer_json_is_refused_naming_the_file(tmp_path: Path, change, message):
    path = _write_json(tmp_path / "tokenizer.json", change)
    with pytest.raises(TokenizerSourceError, match=message) as error:
        build.extract(path)
    assert str(path) in str(error.value)


def test_non_bpe_gguf_is_refused(tmp_path: Path):
    import gguf

    path = tmp_path / "llama_spm.gguf"
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_tokenizer_model("llama")
    writer.add_token_list(["<unk>", "<s>", "</s>", "▁a"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(TokenizerSourceError, match="tokenizer.ggml.model = 'llama'"):
        build.extract(path)


def test_build_reports_bad_sources_and_exits_non_zero(tmp_path: Path, capsys):
    corrupt = tmp_path / "corrupt.model"
    corrupt.write_bytes(b"\x0a\xff\xff\xff\xff\x0f not a protobuf")
    missing = tmp_path / "missing.json"
    for source in (corrupt, missing):
        code = build.main(["--source", str(source), "--output-mlir", str(tmp_path / "t.mlir"),
                           "--output-irpa", str(tmp_path / "t.irpa")])
        assert code == 1
        assert str(source) in capsys.readouterr().err
    assert not (tmp_path / "t.mlir").exists() and not (tmp_path / "t.irpa").exists()


def test_loading_mismatched_files_is_refused(tmp_path: Path, sentencepiece_vmfb: Path):
    irpa = tmp_path / "qwen.irpa"
    write_irpa(build.extract(references.QWEN_TOKENIZER_JSON), irpa)
    with pytest.raises(TokenizerSourceError, match="does not contain module 'bytelevel_bpe_tokenizer'"):
        CompiledTokenizer.load(sentencepiece_vmfb, irpa)
    with pytest.raises(TokenizerSourceError, match="not a readable IRPA file"):
        CompiledTokenizer.load(sentencepiece_vmfb, references.QWEN_TOKENIZER_JSON)


def test_cli_encodes_and_decodes(tmp_path: Path, bytelevel_vmfb: Path, workspace: Path, qwen, capsys):
    text = "Hello <|im_start|>world 1999\n中文"
    source = tmp_path / "input.txt"
    source.write_text(text, encoding="utf-8")
    files = ["--vmfb", str(bytelevel_vmfb), "--irpa", str(workspace / "qwen.irpa")]
    assert cli.main(["encode", str(source), "--json", *files]) == 0
    ids = json.loads(capsys.readouterr().out)
    assert ids == qwen.encode(text)
    id_file = tmp_path / "ids.txt"
    id_file.write_text(" ".join(map(str, ids)))
    assert cli.main(["decode", str(id_file), *files]) == 0
    assert capsys.readouterr().out == text
    assert cli.main(["encode", str(source)]) == 1
    assert "--vmfb and --irpa" in capsys.readouterr().err


def test_safe_split_points():
    data = b"alpha\nbeta\ngamma\n\ndelta\nepsilon"
    points = safe_split_points(data, "bytelevel_bpe", 8)
    assert points and all(data[p - 1:p] == b"\n" and data[p - 2:p - 1].isalpha() and data[p:p + 1].isalpha()
                          for p in points)
    assert safe_split_points(b"x" * 100, "bytelevel_bpe", 8) == []
    points = safe_split_points(b"one two three four five", "sentencepiece_bpe", 6)
    assert points and all(b"one two three four five"[p:p + 1] == b" " for p in points)
