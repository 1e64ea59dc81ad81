"""generation.json / tokenizer.json from real checkpoints (SmolLM2 GGUF, Qwen tokenizer files), checked
against transformers, and the chat template rendered as transformers renders it."""

import json
import shutil
from pathlib import Path

import pytest
import tokenizers
from gguf import GGUFReader
from transformers import AutoTokenizer, GenerationConfig as HfGenerationConfig, Qwen2Config

from artifacts import generation_config
from artifacts.generation_json import GenerationConfig, GenerationJsonError
from artifacts.chat_template import ChatTemplateError, render_chat_template
from tools import shipped_model_files

SAMPLE_TEXTS = [
    "What is the capital of France?",
    "  leading spaces, trailing tabs\t\t\n\nand\r\nnewlines",
    "func.func @main(%arg0: tensor<4xf32>) -> tensor<4xf32> { return %arg0 : tensor<4xf32> }",
    "Ünïcödé ✓ 日本語 — emoji 🚀 and numbers 1234567 3.14159",
    "<|im_start|>user\nhi<|im_end|>\n",
]

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another, with ünïcödé?"},
    ],
]

SMOLLM2_GGUF = shipped_model_files.smollm2_gguf()
QWEN_TOKENIZER_DIR = shipped_model_files.qwen_tokenizer_json().parent


def gguf_value(key: str):
    return GGUFReader(str(SMOLLM2_GGUF)).fields[key].contents()


@pytest.fixture(scope="module")
def smollm2_written(tmp_path_factory):
    """generation.json and tokenizer.json written twice by the command line from the SmolLM2 GGUF."""
    outputs = []
    for run in ("first", "second"):
        directory = tmp_path_factory.mktemp(run)
        status = generation_config.main(
            [
                "--gguf",
                str(SMOLLM2_GGUF),
                "--output-generation",
                str(directory / "generation.json"),
                "--output-tokenizer",
                str(directory / "tokenizer.json"),
            ]
        )
        assert status == 0
        outputs.append(directory)
    return outputs


@pytest.fixture(scope="module")
def smollm2_reference_tokenizer():
    return AutoTokenizer.from_pretrained(str(SMOLLM2_GGUF.parent), gguf_file=SMOLLM2_GGUF.name)


def test_gguf_outputs_are_byte_identical_across_runs(smollm2_written):
    first, second = smollm2_written
    for name in ("generation.json", "tokenizer.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_gguf_generation_config_comes_from_the_metadata(smollm2_written):
    config = GenerationConfig.load(smollm2_written[0] / "generation.json")
    tokenizer = tokenizers.Tokenizer.from_file(str(smollm2_written[0] / "tokenizer.json"))
    assert config.bos_token_id == gguf_value("tokenizer.ggml.bos_token_id")
    assert config.eos_token_id == gguf_value("tokenizer.ggml.eos_token_id")
    assert config.context_length == gguf_value("llama.context_length")
    assert config.add_bos_token == gguf_value("tokenizer.ggml.add_bos_token")
    assert config.chat_template == gguf_value("tokenizer.chat_template")
    # ChatML: a turn ends with <|im_end|>, so generation stops there
    assert tokenizer.token_to_id("<|im_end|>") in config.stop_token_ids
    assert config.eos_token_id in config.stop_token_ids


def test_gguf_tokenizer_matches_transformers(smollm2_written, smollm2_reference_tokenizer):
    tokenizer = tokenizers.Tokenizer.from_file(str(smollm2_written[0] / "tokenizer.json"))
    for text in SAMPLE_TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert ids == smollm2_reference_tokenizer.encode(text, add_special_tokens=False), text
        assert tokenizer.decode(ids, skip_special_tokens=False) == smollm2_reference_tokenizer.decode(ids), text


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_smollm2_chat_template_renders_like_transformers(
    smollm2_written, smollm2_reference_tokenizer, conversation, add_generation_prompt
):
    config = GenerationConfig.load(smollm2_written[0] / "generation.json")
    rendered = render_chat_template(config.chat_template, conversation, add_generation_prompt=add_generation_prompt)
    expected = smollm2_reference_tokenizer.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    assert rendered == expected


def make_qwen_checkpoint(directory: Path) -> Path:
    """A Hugging Face directory: the real Qwen tokenizer files plus config.json and generation_config.json
    written by transformers."""
    shutil.copytree(QWEN_TOKENIZER_DIR, directory)
    Qwen2Config(max_position_embeddings=32768, bos_token_id=151643, eos_token_id=151645).save_pretrained(directory)
    HfGenerationConfig(bos_token_id=151643, eos_token_id=[151645, 151643], pad_token_id=151643).save_pretrained(
        directory
    )
    return directory


def test_hf_directory(tmp_path):
    checkpoint = make_qwen_checkpoint(tmp_path / "qwen")
    output = tmp_path / "out"
    output.mkdir()
    status = generation_config.main(
        [
            "--hf-dir",
            str(checkpoint),
            "--output-generation",
            str(output / "generation.json"),
            "--output-tokenizer",
            str(output / "tokenizer.json"),
        ]
    )
    assert status == 0
    assert (output / "tokenizer.json").read_bytes() == (checkpoint / "tokenizer.json").read_bytes()
    config = GenerationConfig.load(output / "generation.json")
    tokenizer = tokenizers.Tokenizer.from_file(str(output / "tokenizer.json"))
    tokenizer_config = json.loads((checkpoint / "tokenizer_config.json").read_text())
    assert config.context_length == 32768
    assert config.eos_token_id == 151645 == tokenizer.token_to_id("<|im_end|>")
    assert set(config.stop_token_ids) == {151645, 151643}
    assert config.pad_token_id == 151643
    assert config.add_bos_token is tokenizer_config["add_bos_token"]
    assert config.chat_template == tokenizer_config["chat_template"]

    reference = AutoTokenizer.from_pretrained(str(checkpoint))
    for conversation in CONVERSATIONS:
        assert render_chat_template(config.chat_template, conversation) == reference.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )


def test_hf_directory_without_generation_config_uses_the_tokenizer_config(tmp_path):
    checkpoint = tmp_path / "qwen"
    shutil.copytree(QWEN_TOKENIZER_DIR, checkpoint)
    (checkpoint / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    (checkpoint / "chat_template.jinja").write_text("{% for m in messages %}[{{ m['content'] }}]{% endfor %}<|im_end|>")
    config, _ = generation_config.from_hf_directory(checkpoint)
    tokenizer = tokenizers.Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    assert config.eos_token_id == tokenizer.token_to_id("<|im_end|>")
    assert config.pad_token_id == tokenizer.token_to_id("<|endoftext|>")
    assert config.bos_token_id is None
    assert config.chat_template.startswith("{% for m in messages %}")
    assert render_chat_template(config.chat_template, [{"role": "user", "content": "x"}]) == "[x]<|im_end|>"


def test_hf_directory_errors_name_the_missing_file(tmp_path):
    checkpoint = tmp_path / "qwen"
    shutil.copytree(QWEN_TOKENIZER_DIR, checkpoint)
    with pytest.raises(generation_config.CheckpointMetadataError, match=r"config\.json: no context length"):
        generation_config.from_hf_directory(checkpoint)
    (checkpoint / "tokenizer.json").unlink()
    with pytest.raises(generation_config.CheckpointMetadataError, match=r"tokenizer\.json: missing"):
        generation_config.from_hf_directory(checkpoint)


def test_malformed_generation_json_names_the_file(tmp_path):
    path = tmp_path / "generation.json"
    path.write_text('{"format_version": 1, "eos_token_id": 2}')
    with pytest.raises(GenerationJsonError, match="generation.json: not a valid generation.json"):
        GenerationConfig.load(path)


def test_chat_template_errors_are_clear():
    with pytest.raises(ChatTemplateError, match="no chat template"):
        render_chat_template(None, [{"role": "user", "content": "x"}])
    with pytest.raises(ChatTemplateError, match="needs 'role' and 'content'"):
        render_chat_template("{{ messages }}", [{"content": "x"}])
    with pytest.raises(ChatTemplateError, match="only user turns"):
        render_chat_template(
            "{% if messages[0]['role'] != 'user' %}{{ raise_exception('only user turns') }}{% endif %}",
            [{"role": "system", "content": "x"}],
        )
