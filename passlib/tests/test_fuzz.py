"""Fuzzing with generated garbage: huge, deeply nested, binary and surrogate-laden answers and responses.

Extraction, the response cache, the HTTP client (a real server on 127.0.0.1 writing the generated
bytes) and the transform driver (a real server answering with the generated text) must never let an
exception escape, must stay within a time bound, and the driver's output is the input or a rewrite
that passed validation. Runs are derandomized (the same examples every time, as CI needs) and small
enough to finish well within a minute.
"""

from __future__ import annotations

import json
import re
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passlib import backends, cache, extract, ir, prompts, transform, validate
from passlib.tests import llm_server, samples

# Generated answers reach a little past extract.MAX_ANSWER_CHARS, so that the cap is crossed too.
LARGEST_ANSWER = extract.MAX_ANSWER_CHARS + 100_000
DEEPEST_NESTING = 100_000
# Repetition counts: small ones, and large ones that a uniform draw would hardly ever pick.
COUNTS = st.one_of(st.integers(0, 64), st.sampled_from([1_000, 30_000, DEEPEST_NESTING, LARGEST_ANSWER]))
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=10_000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# Pieces of MLIR, Markdown and JSON that the scans look for, and characters that break encodings.
TOKENS = [
    "```", "```mlir", "~~~", "````", "\n", "\r\n", " ", "\t", "func.func", '"func.func"', "@double", "@twice",
    "private", "module", "module {", "{", "}", "(", ")", "[", "]", '"', "\\", "//", "sym_name = ", '"double"',
    "%arg0", ": i32", "->", "return", "arith.addi", "\ud800", "\udfff", "\x00", "\ufeff", "é", "\U0001f600",
]
# Any character, lone surrogates too (which st.characters never draws).
ANY_CHARACTER = st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))
FRAGMENT = st.one_of(st.sampled_from(TOKENS), st.text(ANY_CHARACTER, max_size=12))
PIECE = st.lists(FRAGMENT, max_size=30).map("".join)
OPENERS = ["{", "(", "[", '{"a": ', "module {", "func.func @double() {", "```\n", '"', "// "]
ANSWERS_WITH_MLIR = [samples.GOOD_ANSWER, samples.UNPARSABLE, samples.WRONG_SIGNATURE, samples.UNDEFINED_VALUE,
                     samples.CHANGES_RESULTS, samples.NO_CODE]


def _repeated(parts: tuple[str, int, str]) -> str:
    head, count, tail = parts
    return head * min(count, LARGEST_ANSWER // max(1, len(head))) + tail


ANSWERS = st.one_of(
    PIECE,
    st.tuples(PIECE, COUNTS, PIECE).map(_repeated),
    st.tuples(st.sampled_from(OPENERS), COUNTS, PIECE).map(_repeated),
    st.tuples(PIECE, st.sampled_from(ANSWERS_WITH_MLIR), PIECE).map("".join),
)


@settings(FUZZ, max_examples=200)
@given(answer=ANSWERS, name=st.sampled_from([None, "double", "twice", "a.b", "x y"]))
def test_extraction_reads_any_answer(answer, name):
    found = extract.extract_mlir(answer, name)
    assert found.method in (extract.FENCED, extract.BARE, extract.TRUNCATED, extract.NOT_FOUND)
    assert (found.mlir is None) == (found.problem is not None) or found.method == extract.FENCED
    assert found.mlir is None or isinstance(found.mlir, str)
    if len(answer) > extract.MAX_ANSWER_CHARS:
        assert found.mlir is None and found.method == extract.NOT_FOUND


# The patterns extraction used before its scans were made linear: the reference the scans must agree
# with (on answers small enough for the patterns' backtracking not to matter).
_REFERENCE_FENCE_OPEN = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*[^\n`]*$", re.MULTILINE)
_REFERENCE_MODULE_START = re.compile(r"\bmodule\b[^{}\n]*\{")


def _reference_fenced_blocks(response: str) -> list[extract.FencedBlock]:
    blocks, position = [], 0
    while (opening := _REFERENCE_FENCE_OPEN.search(response, position)) is not None:
        fence = opening.group("fence")
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE).search(
            response, opening.end())
        if closing is None:
            return [*blocks, extract.FencedBlock(response[opening.end() + 1:], False)]
        blocks.append(extract.FencedBlock(response[opening.end() + 1:closing.start()], True))
        position = closing.end()
    return blocks


def _reference_named_start(text: str, name: str) -> int | None:
    match = re.search(rf"\bfunc\.func\b[^@\n]*@{re.escape(name)}\b", text)
    return None if match is None else match.start()


def _reference_definition_end(text: str, start: int) -> tuple[int | None, int]:
    depth, seen_region, index = 0, False, start
    while index < len(text):
        character = text[index]
        if character == '"':
            index += 1
            while index < len(text) and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif text.startswith("//", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline - 1
        elif character in "{([":
            depth += 1
            seen_region = seen_region or character == "{"
        elif character in "})]":
            depth -= 1
            if depth == 0 and seen_region:
                line_end = text.find("\n", index)
                rest = text[index + 1:len(text) if line_end < 0 else line_end]
                if not any(opening in rest for opening in "{(["):
                    return index + 1, 0
        index += 1
    return None, depth


@settings(FUZZ, max_examples=300)
@given(text=st.lists(st.sampled_from(TOKENS + ["`", "~", "x"]), max_size=40).map("".join))
def test_linear_scans_agree_with_the_patterns_they_replace(text):
    assert extract.fenced_blocks(text) == _reference_fenced_blocks(text)
    assert extract._named_definition_start(text, "double") == _reference_named_start(text, "double")
    function = re.search(r'(?:\bfunc\.func\b|"func\.func")', text)
    if function is not None:
        module = _REFERENCE_MODULE_START.search(text, 0, function.start() + 1)
        assert extract._definition_start(text) == (function.start() if module is None else module.start())
        assert extract._definition_end(text, function.start()) == _reference_definition_end(text, function.start())


@settings(FUZZ, max_examples=200)
@given(text=st.text(ANY_CHARACTER, max_size=200), user=st.text(ANY_CHARACTER, max_size=50))
def test_the_cache_stores_any_text_and_reads_it_back(text, user):
    prompt = prompts.Prompt("system", user, 1, 0, 0)
    completion = backends.Completion(text, 1, 2, 0.5, "stop")
    with tempfile.TemporaryDirectory() as directory:
        store = cache.ResponseCache(directory)
        key = cache.cache_key("m", prompt, backends.DecodingOptions())
        store.store(key, completion)
        assert store.lookup(key) == (completion, cache.HIT)


STATUS_LINES = st.one_of(
    st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK", b"HTTP/1.1 503 Busy", b"HTTP/1.1 302 Found",
                     b"HTTP/1.1 99 Low", b"HTTP/1.1 abc", b"HTTP/9.9 200 OK", b"ICY 200 OK", b""]),
    st.binary(max_size=30),
)
HEADERS = st.lists(st.one_of(
    st.sampled_from([b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
                     b"Content-Length: x", b"Transfer-Encoding: chunked", b"Connection: close",
                     b"Content-Type: application/json; charset=latin-1", b"Location: http://127.0.0.1:1/",
                     b"X-Long: " + b"y" * 70_000]),
    st.binary(max_size=30),
), max_size=5)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(ANY_CHARACTER, max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20,
)
OLLAMA_ANSWERS = st.fixed_dictionaries(
    {"response": st.one_of(st.text(ANY_CHARACTER, max_size=100), JSON_VALUES)},
    optional={"eval_count": JSON_VALUES, "prompt_eval_count": JSON_VALUES, "done_reason": JSON_VALUES,
              "error": JSON_VALUES},
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    OLLAMA_ANSWERS.map(lambda value: json.dumps(value).encode()),
    st.tuples(st.sampled_from([b"[", b'{"a":', b'{"response": ']), COUNTS).map(
        lambda parts: parts[0] * min(parts[1], DEEPEST_NESTING)),
)


def _http_bytes(parts: tuple[bytes, list[bytes], bool, bytes]) -> bytes:
    status, headers, with_length, body = parts
    if with_length:
        headers = [*headers, b"Content-Length: %d" % len(body)]
    return b"\r\n".join([status, *headers]) + b"\r\n\r\n" + body


RESPONSES = st.one_of(st.binary(max_size=500),
                      st.tuples(STATUS_LINES, HEADERS, st.booleans(), BODIES).map(_http_bytes))
HTTP_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def scripted_server():
    with llm_server.ScriptedHttpServer([]) as server:
        yield server


@settings(FUZZ, max_examples=150)
@given(response=RESPONSES)
def test_any_bytes_from_a_server_are_an_answer_or_a_backend_error(scripted_server, response):
    scripted_server.steps = [(response, 0.0)]
    backend = backends.OllamaBackend("m", scripted_server.url, timeout_s=HTTP_TIMEOUT_S)
    try:
        completion = backend.complete(prompts.Prompt("s", "u", 1, 0, 0), backends.DecodingOptions())
    except backends.BackendError as error:
        assert error.kind in ("unreachable", "timeout", "server", "protocol")
        return
    assert isinstance(completion.text, str)
    assert completion.prompt_tokens is None or isinstance(completion.prompt_tokens, int)
    assert completion.finish_reason is None or isinstance(completion.finish_reason, str)


@pytest.fixture(scope="module")
def canned_server():
    with llm_server.CannedLlmServer([""]) as server:
        yield server


# Two attempts, so that the second prompt quotes the first answer back (surrogates and all); no floor
# and no execution check, to keep each example fast: every other check of an answer runs.
DRIVER_OPTIONS = transform.TransformOptions(
    search_budget=0, max_attempts=2, validation=validate.ValidationOptions(check_equivalence=False))


def _is_validated_rewrite(output: str) -> bool:
    """Whether `output` parses, verifies and keeps @double's signature."""
    module = ir.parse_module(output, ir.new_context())
    function = ir.find_function(module, "double")
    return function is not None and str(ir.function_type(function)) == "(i32) -> i32"


@settings(FUZZ, max_examples=60)
@given(answer=ANSWERS)
def test_the_driver_keeps_the_input_or_a_validated_rewrite(canned_server, answer):
    canned_server.answers = [answer]
    backend = backends.OllamaBackend("coder", canned_server.url, timeout_s=HTTP_TIMEOUT_S)
    with tempfile.TemporaryDirectory() as directory:
        result = transform.transform_text(samples.DOUBLE, backend, DRIVER_OPTIONS, cache.ResponseCache(directory))
    json.dumps(result.report.to_json())  # the report can be written
    assert result.text == samples.DOUBLE or (result.changed and _is_validated_rewrite(result.text))
