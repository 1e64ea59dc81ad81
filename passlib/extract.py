"""Extraction of MLIR from an LLM's free-text answer.

LLM answers wrap the code in Markdown fences (```mlir ... ```), give a bare function amid prose, or
stop mid-function when the token limit is hit. This module finds the MLIR (preferring the last
fenced block that defines the wanted function), cuts a bare function out by matching its braces
(ignoring braces inside string literals and comments), and recognises cut-off output so the retry
prompt can say so. It reads only the answer's text: the MLIR itself is judged by the parser later.
"""

from __future__ import annotations

import dataclasses
import re

FENCED = "fenced"
BARE = "bare"
TRUNCATED = "truncated"
NOT_FOUND = "not_found"

# An opening fence line: three or more backticks or tildes, then an optional info string ("mlir").
_FENCE_OPEN = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*[^\n`]*$", re.MULTILINE)
_FUNCTION_START = re.compile(r'(?:\bfunc\.func\b|"func\.func")')
_MODULE_START = re.compile(r"\bmodule\b[^{}\n]*\{")


@dataclasses.dataclass(frozen=True)
class Extraction:
    """What was found in an answer: the MLIR text, or why there is none."""

    mlir: str | None
    method: str
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class FencedBlock:
    """The text of a fenced code block, and whether its closing fence is there."""

    text: str
    closed: bool


def fenced_blocks(response: str) -> list[FencedBlock]:
    """The fenced code blocks of an answer, in order; the last may be unclosed (a cut-off answer)."""
    blocks = []
    position = 0
    while True:
        opening = _FENCE_OPEN.search(response, position)
        if opening is None:
            return blocks
        fence = opening.group("fence")
        closing = re.compile(
            rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE
        ).search(response, opening.end())
        start = opening.end() + 1
        if closing is None:
            blocks.append(FencedBlock(response[start:], False))
            return blocks
        blocks.append(FencedBlock(response[start : closing.start()], True))
        position = closing.end()


def _defines(text: str, function_name: str | None) -> bool:
    if function_name is None:
        return _FUNCTION_START.search(text) is not None
    name = re.escape(function_name)
    return re.search(rf'(?:\bfunc\.func\b[^@\n]*@{name}\b|sym_name\s*=\s*"{name}")', text) is not None


_OPENING = "{(["
_CLOSING = "})]"


def _definition_end(text: str, start: int) -> tuple[int | None, int]:
    """The index just past the operation that starts at `start`, and the bracket depth left open.

    The operation ends where its brackets ({}, (), []) balance again after its first `{`, unless
    the rest of that line opens another bracket (generic form: `<{props}> ({region}) : () -> ()`).
    Brackets inside "string literals" and // comments do not count. Returns (None, depth) when the
    text ends before the brackets balance.
    """
    depth = 0
    seen_region = False
    index = start
    length = len(text)
    while index < length:
        character = text[index]
        if character == '"':
            index += 1
            while index < length and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif text.startswith("//", index):
            newline = text.find("\n", index)
            index = length if newline < 0 else newline - 1
        elif character in _OPENING:
            depth += 1
            seen_region = seen_region or character == "{"
        elif character in _CLOSING:
            depth -= 1
            if depth == 0 and seen_region:
                line_end = text.find("\n", index)
                rest = text[index + 1 : length if line_end < 0 else line_end]
                if not any(opening in rest for opening in _OPENING):
                    return index + 1, 0
        index += 1
    return None, depth


def _cut_definitions(text: str, start: int) -> Extraction:
    """From the definition starting at `start`, it and the definitions right after it."""
    pieces = []
    position = start
    while True:
        end, depth = _definition_end(text, position)
        if end is None:
            if pieces:
                break
            return Extraction(
                None,
                TRUNCATED,
                f"the answer stops before the function ends ({depth} bracket(s) left open); "
                "it was probably cut off by the token limit",
            )
        pieces.append(text[position:end])
        following = _FUNCTION_START.search(text, end)
        if following is None or text[end : following.start()].strip():
            break
        pieces.append("\n")
        position = following.start()
    return Extraction("".join(pieces).strip() + "\n", BARE, None)


def _definition_start(text: str) -> int:
    """Where the code starts: an enclosing `module {` if any, else the first func.func."""
    function = _FUNCTION_START.search(text)
    assert function is not None, "callers check that a definition exists"
    module = _MODULE_START.search(text, 0, function.start() + 1)
    return module.start() if module is not None else function.start()


def _named_definition_start(text: str, function_name: str) -> int | None:
    match = re.search(rf"\bfunc\.func\b[^@\n]*@{re.escape(function_name)}\b", text)
    return None if match is None else match.start()


def _extract_from(text: str, function_name: str | None) -> Extraction:
    cut = _cut_definitions(text, _definition_start(text))
    if cut.mlir is not None and function_name is not None and not _defines(cut.mlir, function_name):
        named = _named_definition_start(text, function_name)
        if named is not None:
            cut = _cut_definitions(text, named)
    return cut


def extract_mlir(response: str, function_name: str | None = None) -> Extraction:
    """The MLIR in an LLM answer, preferring code that defines `@function_name`.

    Fenced blocks come first (the last one defining the function wins, as answers usually show the
    final version last); otherwise a bare definition is cut out of the prose by bracket matching.
    A closed block whose brackets do not balance is returned whole, so that the parser can say
    where it is wrong; an unclosed block or a bare definition that stops early is reported as
    truncated.
    """
    blocks = [block for block in fenced_blocks(response) if _FUNCTION_START.search(block.text)]
    wanted = [block for block in blocks if _defines(block.text, function_name)] or blocks
    if wanted:
        chosen = wanted[-1]
        cut = _extract_from(chosen.text, function_name)
        if cut.mlir is not None:
            return Extraction(cut.mlir, FENCED)
        if chosen.closed:
            return Extraction(chosen.text.strip() + "\n", FENCED)
        return cut
    if _FUNCTION_START.search(response) is None:
        return Extraction(None, NOT_FOUND, "the answer contains no MLIR function (no func.func)")
    return _extract_from(response, function_name)
