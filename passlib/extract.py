"""Extraction of MLIR from an LLM's free-text answer.

LLM answers wrap the code in Markdown fences (```mlir ... ```), give a bare function amid prose, or
stop mid-function when the token limit is hit. This module finds the MLIR (preferring the last
fenced block that defines the wanted function), cuts a bare function out by matching its braces
(ignoring braces inside string literals and comments), and recognises cut-off output so the retry
prompt can say so. It reads only the answer's text: the MLIR itself is judged by the parser later.

Answers are untrusted: every scan here is linear in the answer's length (no regular expression can
backtrack over a line, no loop rescans what it has read), and an answer longer than
MAX_ANSWER_CHARS is not read at all.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

FENCED = "fenced"
BARE = "bare"
TRUNCATED = "truncated"
NOT_FOUND = "not_found"
# The longest answer that is read (characters); a rewrite of one function is a few thousand.
MAX_ANSWER_CHARS = 1 << 20

# The start of a fence line: three or more backticks or tildes after blanks (the rest of the line is
# checked by hand: a pattern over the whole line could backtrack over its blanks).
_FENCE_START = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})", re.MULTILINE)
_FUNCTION_START = re.compile(r'(?:\bfunc\.func\b|"func\.func")')
_FUNCTION_KEYWORD = re.compile(r"\bfunc\.func\b")
_MODULE_KEYWORD = re.compile(r"\bmodule\b")
# What a bracket scan stops at: a string literal, a // comment, a bracket.
_SIGNIFICANT = re.compile(r'"|//|[{}()\[\]]')
# The rest of a string literal after its opening quote, through its closing quote.
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENING_BRACKET = re.compile(r"[{(\[]")
_NEWLINE = re.compile(r"\n")
_AT_OR_NEWLINE = re.compile(r"[@\n]")
_BRACE_OR_NEWLINE = re.compile(r"[{}\n]")


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


class _NextMatch:
    """The next match of a pattern at or after a position, for positions that only grow.

    A found match is remembered while the position has not passed it, so a text is scanned once
    however many positions are asked about.
    """

    def __init__(self, pattern: re.Pattern[str], text: str) -> None:
        self._pattern = pattern
        self._text = text
        self._found = -1

    def at_or_after(self, position: int) -> int:
        """Where the first match at or after `position` starts; the text's length if there is none."""
        if self._found < position:
            match = self._pattern.search(self._text, position)
            self._found = len(self._text) if match is None else match.start()
        return self._found


def _line_end(text: str, position: int) -> int:
    newline = text.find("\n", position)
    return len(text) if newline < 0 else newline


def _closing_fence(text: str, fence: str, position: int) -> re.Match[str] | None:
    """The first line from `position` on that closes `fence` (as many of its character or more)."""
    pattern = rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$"
    return re.compile(pattern, re.MULTILINE).search(text, position)


def fenced_blocks(response: str) -> list[FencedBlock]:
    """The fenced code blocks of an answer, in order; the last may be unclosed (a cut-off answer).

    A block opens at a line of three or more backticks or tildes and an info string without
    backticks ("mlir"), and closes at a line of at least as many of the same character.
    """
    blocks = []
    position = 0
    while (opening := _FENCE_START.search(response, position)) is not None:
        line_end = _line_end(response, opening.end())
        if "`" in response[opening.end():line_end]:
            position = line_end
            continue
        fence = opening.group("fence")
        closing = _closing_fence(response, fence, line_end)
        start = line_end + 1
        if closing is None:
            blocks.append(FencedBlock(response[start:], False))
            return blocks
        blocks.append(FencedBlock(response[start : closing.start()], True))
        position = closing.end()
    return blocks


def _definitions_named(text: str, function_name: str) -> Iterator[int]:
    """Where each `func.func` whose first `@` on its line names `function_name` starts."""
    name = re.compile(rf"@{re.escape(function_name)}\b")
    at_or_newline = _NextMatch(_AT_OR_NEWLINE, text)
    for keyword in _FUNCTION_KEYWORD.finditer(text):
        at = at_or_newline.at_or_after(keyword.end())
        if name.match(text, at):
            yield keyword.start()


def _defines(text: str, function_name: str | None) -> bool:
    if function_name is None:
        return _FUNCTION_START.search(text) is not None
    if next(_definitions_named(text, function_name), None) is not None:
        return True
    return re.search(rf'sym_name\s*=\s*"{re.escape(function_name)}"', text) is not None


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
    opening_ahead = _NextMatch(_OPENING_BRACKET, text)
    newline_ahead = _NextMatch(_NEWLINE, text)
    position = start
    while (token := _SIGNIFICANT.search(text, position)) is not None:
        kind, position = token.group(), token.end()
        if kind == '"':
            rest = _STRING_REST.match(text, position)
            if rest is None:
                break
            position = rest.end()
        elif kind == "//":
            position = _line_end(text, position)
        elif kind in _OPENING:
            depth += 1
            seen_region = seen_region or kind == "{"
        else:
            depth -= 1
            if depth == 0 and seen_region:
                # it ends here unless the rest of its line opens another bracket
                if opening_ahead.at_or_after(position) >= newline_ahead.at_or_after(position):
                    return position, 0
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


def _module_start(text: str, end: int) -> int | None:
    """Where the first `module ... {` (its `{` on the same line, before `end`) starts, if any."""
    brace_or_newline = _NextMatch(_BRACE_OR_NEWLINE, text)
    for keyword in _MODULE_KEYWORD.finditer(text, 0, end):
        brace = brace_or_newline.at_or_after(keyword.end())
        if brace < end and text[brace] == "{":
            return keyword.start()
    return None


def _definition_start(text: str) -> int:
    """Where the code starts: an enclosing `module {` if any, else the first func.func."""
    function = _FUNCTION_START.search(text)
    assert function is not None, "callers check that a definition exists"
    module = _module_start(text, function.start() + 1)
    return module if module is not None else function.start()


def _named_definition_start(text: str, function_name: str) -> int | None:
    return next(_definitions_named(text, function_name), None)


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
    truncated. An answer longer than MAX_ANSWER_CHARS is not read (NOT_FOUND, with the reason).
    """
    if len(response) > MAX_ANSWER_CHARS:
        return Extraction(None, NOT_FOUND, f"the answer has {len(response)} characters, more than the "
                                           f"{MAX_ANSWER_CHARS} that are read; it was not read")
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
