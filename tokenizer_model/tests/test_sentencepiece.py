"""SentencePiece BPE compiled by IREE against `sentencepiece`, on models trained in the test session."""

from __future__ import annotations

import pytest

from tokenizer_model import build
from tokenizer_model.tables import TokenizerSourceError
from tokenizer_model.tokenizer import CompiledTokenizer, safe_split_points


@pytest.fixture(scope="session", params=["llama2_style", "no_byte_fallback"])
def pair(request, sentencepiece_tokenizers):
    return sentencepiece_tokenizers[request.param]


def test_encode_matches_reference_on_corpus(pair, corpus):
    compiled, reference = pair
    found = [(item["text"][:60], compiled.encode(item["text"])[:20], reference.encode(item["text"])[:20])
             for item in corpus if compiled.encode(item["text"]) != reference.encode(item["text"])]
    assert not found, f"{len(found)} of {len(corpus)} differ; first: {found[:3]}"


def test_decode_matches_reference_on_corpus(pair, corpus):
    compiled, reference = pair
    found = []
    for item in corpus:
        ids = reference.encode(item["text"])
        if compiled.decode(ids) != reference.decode(ids):
            found.append((item["text"][:60], compiled.decode(ids)[:60], reference.decode(ids)[:60]))
    assert not found, f"{len(found)} of {len(corpus)} differ; first: {found[:3]}"


def test_round_trip_wherever_the_reference_round_trips(pair, corpus):
    compiled, reference = pair
    texts = [item["text"] for item in corpus if reference.decode(reference.encode(item["text"])) == item["text"]]
    assert texts
    failed = [text[:60] for text in texts if compiled.decode(compiled.encode(text)) != text]
    assert not failed, f"{len(failed)} of {len(texts)} do not round-trip; first: {failed[:3]}"


def test_the_models_exercise_byte_fallback_unknowns_and_user_symbols(sentencepiece_tokenizers):
    text = "<|im_start|>user 中文 ᚠ 🙂\t x<think>"
    llama, llama_reference = sentencepiece_tokenizers["llama2_style"]
    plain, plain_reference = sentencepiece_tokenizers["no_byte_fallback"]
    ids = llama_reference.encode(text)
    assert any(llama_reference.is_byte(i) for i in ids) and llama.encode(text) == ids
    assert llama_reference.piece_to_id("<|im_start|>") in ids
    ids = plain_reference.encode(text)
    assert plain_reference.unk_id() in ids and plain.encode(text) == ids


def test_decode_of_malformed_byte_runs_matches_reference(sentencepiece_tokenizers):
    compiled, reference = sentencepiece_tokenizers["llama2_style"]
    byte = {value: reference.piece_to_id(f"<0x{value:02X}>") for value in range(256)}
    word = reference.encode("word")
    sequences = [
        [byte[0xE2], byte[0x82]],  # cut-off 3-byte character
        [byte[0xC0], byte[0x80], byte[0x41]],  # overlong form
        [byte[0xED], byte[0xA0], byte[0x80]],  # surrogate
        [byte[0xF4], byte[0x90], byte[0x80], byte[0x80]],  # beyond U+10FFFF
        [byte[0xEF], byte[0xBF], byte[0xBD]],  # U+FFFD itself
        word + [byte[0xE4]] + word + [byte[0xB8], byte[0xAD]],  # a character split by a piece
        [byte[0xF0], byte[0x9F], byte[0x99], byte[0x82]] + word,
    ]
    for ids in sequences:
        assert compiled.decode(ids) == reference.decode(ids), ids


def test_out_of_range_ids_raise_like_the_reference(pair):
    compiled, reference = pair
    for bad in (-1, compiled.token_count):
        with pytest.raises(IndexError):
            reference.decode([bad])
        with pytest.raises(IndexError):
            compiled.decode([5, bad])


def test_chunked_encoding_is_exact(sentencepiece_models, sentencepiece_vmfb, workspace, corpus, pair):
    compiled, reference = pair
    if not compiled.metadata["chunkable"]:
        assert compiled.metadata["normalizer"] == "identity"  # remove_extra_whitespaces: never chunked
        return
    chunked = CompiledTokenizer.load(sentencepiece_vmfb, workspace / "llama2_style.irpa", max_chunk_bytes=64)
    long_texts = [item["text"] for item in corpus if len(item["text"].encode("utf-8")) > 200]
    assert sum(bool(safe_split_points(t.encode("utf-8"), chunked.algorithm, 64)) for t in long_texts) > 20
    found = [t[:60] for t in long_texts if chunked.encode(t) != reference.encode(t)]
    assert not found, f"{len(found)} of {len(long_texts)} differ; first: {found[:3]}"


def test_unigram_models_are_refused_with_a_clear_message(workspace, corpus):
    import io

    import sentencepiece

    stream = io.BytesIO()
    lines = [item["text"] for item in corpus if item["category"] == "prose"]
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=stream, model_type="unigram",
                                             vocab_size=300, num_threads=1, minloglevel=2)
    path = workspace / "unigram.model"
    path.write_bytes(stream.getvalue())
    with pytest.raises(TokenizerSourceError, match="unigram.model: model_type 1 is not BPE"):
        build.extract(path)


def test_input_beyond_the_default_chunk_limit(pair, corpus):
    """The corpus twice as one string (820 kB); cut into chunks when the model allows it."""
    compiled, reference = pair
    text = "\n".join(item["text"] for item in corpus + corpus)
    assert len(text.encode("utf-8")) > 3 * compiled.max_chunk_bytes
    assert compiled.encode(text) == reference.encode(text)
