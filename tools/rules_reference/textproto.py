"""A reader of protobuf text format into dicts, enough for the ModuleInfo that Bazel's
`starlark_doc_extract` writes (`<name>.textproto`): messages, strings, numbers, booleans, enums.

Every field becomes a list (text format does not say which fields are repeated): `parse(text)["rule_info"]`
is a list of dicts, `rule["rule_name"][0]` a string. Scalars stay as their text unless quoted
(strings, escapes decoded) or `true`/`false`.
"""

from __future__ import annotations

import ast
import re

_TOKEN = re.compile(r'\s+|#[^\n]*|(?P<string>"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\')|(?P<word>[\w.+-]+)|(?P<punct>[{}:<>\[\],;])')


class TextprotoError(ValueError):
    """The text is not protobuf text format this reader understands."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:
            raise TextprotoError(f"unexpected character {text[position]!r} at offset {position}")
        position = found.end()
        kind = found.lastgroup
        if kind is not None:
            tokens.append((kind, found.group(kind)))
    return tokens


def _string(token: str) -> str:
    # Text format escapes are C escapes; Python's bytes literal reads them, and the bytes are UTF-8.
    return ast.literal_eval("b" + token).decode("utf-8")


def parse(text: str) -> dict[str, list]:
    """The message in `text` as {field: [values]}; nested messages are dicts of the same form."""
    tokens = _tokens(text)
    message, position = _message(tokens, 0, closing=None)
    if position != len(tokens):
        raise TextprotoError(f"unexpected {tokens[position][1]!r} after the message")
    return message


def _message(tokens: list[tuple[str, str]], position: int, closing: str | None) -> tuple[dict, int]:
    message: dict[str, list] = {}
    while position < len(tokens):
        kind, value = tokens[position]
        if kind == "punct" and value == closing:
            return message, position + 1
        if kind != "word":
            raise TextprotoError(f"expected a field name, got {value!r}")
        name, position = value, position + 1
        if position < len(tokens) and tokens[position] == ("punct", ":"):
            position += 1
        if position >= len(tokens):
            raise TextprotoError(f"field {name!r} has no value")
        kind, value = tokens[position]
        if kind == "punct" and value in ("{", "<"):
            item, position = _message(tokens, position + 1, "}" if value == "{" else ">")
        elif kind == "string":
            item, position = _string(value), position + 1
            while position < len(tokens) and tokens[position][0] == "string":  # "a" "b" concatenates
                item, position = item + _string(tokens[position][1]), position + 1
        elif kind == "word":
            item, position = {"true": True, "false": False}.get(value, value), position + 1
        else:
            raise TextprotoError(f"field {name!r}: unexpected {value!r}")
        message.setdefault(name, []).append(item)
        if position < len(tokens) and tokens[position] in (("punct", ","), ("punct", ";")):
            position += 1
    if closing is not None:
        raise TextprotoError(f"message not closed with {closing!r}")
    return message, position
