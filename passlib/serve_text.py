"""The text of an answer while its tokens arrive: what the server may stream so far.

`AnswerText.add(token)` returns the text that token completes, cut where a token's text ends: a
token that ends inside a multi-byte character adds nothing until the character is whole. Stop
strings are honoured while streaming: text that is a stop string, or could still become one (the
start of one at the end of the text), is held back; once a stop string occurs, the answer is over
(`stopped`) and nothing from it on is ever sent. `finish()` returns what is left after the last
token.

Pieces are found by decoding a sliding window of ids (the text of the ids since the last cut, with the
previous token for context): a piece is released when the window's text grows past the previous cut,
ends in a complete character and still starts with the text before. With byte-level BPE and
SentencePiece tokenizers the pieces join to the decoded text of all the ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

_INCOMPLETE_CHARACTER = "\ufffd"


def cut_at_stop_strings(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` before the first occurrence of any stop string, and whether one occurred."""
    positions = [text.find(marker) for marker in stop if marker]
    positions = [position for position in positions if position >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True


def stop_prefix_length(text: str, stop: Sequence[str]) -> int:
    """Length of the longest end of `text` that is the start (not the whole) of a stop string."""
    longest = 0
    for marker in stop:
        for length in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:length]):
                longest = length
                break
    return longest


class AnswerText:
    """An answer's text built token by token, released in pieces that never reach into a stop string."""

    def __init__(self, decode: Callable[[Sequence[int]], str], stop: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stop = [marker for marker in stop if marker]
        self._ids: list[int] = []
        self._window_start = 0  # the window's first id: the token before the last cut, for context
        self._cut = 0  # ids before this one have their text in _decoded
        self._decoded = ""
        self._released = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """The text released so far (after finish(): the whole answer)."""
        return self._decoded[: self._released]

    def add(self, token: int) -> str:
        """Takes the next token; returns the text that may be sent now ("" if none yet)."""
        self._ids.append(int(token))
        before = self._decode(self._ids[self._window_start: self._cut])
        after = self._decode(self._ids[self._window_start:])
        if len(after) > len(before) and not after.endswith(_INCOMPLETE_CHARACTER) and after.startswith(before):
            self._decoded += after[len(before):]
            self._window_start, self._cut = self._cut, len(self._ids)
        return self._release(final=False)

    def finish(self) -> str:
        """After the last token: the text not yet released (the decoded end of the answer)."""
        if not self.stopped:
            whole = self._decode(self._ids)
            if whole.startswith(self._decoded):
                self._decoded = whole
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        if self.stopped:
            return ""
        cut, self.stopped = cut_at_stop_strings(self._decoded, self._stop)
        end = len(cut)
        if not self.stopped and not final:
            end -= stop_prefix_length(cut, self._stop)
        if end <= self._released:
            return ""
        piece = self._decoded[self._released: end]
        self._released = end
        return piece
