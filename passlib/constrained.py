"""Constrained decoding of schedule answers: the model can only write `{"passes": [allowed names]}`.

The only texts a constrained generation can produce are, in one canonical spacing,

    {"passes": []}
    {"passes": ["name"]}
    {"passes": ["name", "name", ...]}        (at most `max_length` names)

where every name is from the allow-list, so `schedule.parse_answer` always reads all of them and
rejects none. A byte-level BPE vocabulary spells a name many ways ("canonicalize", "canon"+"ical"+
"ize", ...), so the constraint is a character-level automaton over that grammar, not a trie of token
sequences: at each step the allowed tokens are exactly those whose text keeps the answer a prefix of
the grammar. They are found by walking the automaton and the sorted token texts together (the tokens
that start with a prefix are one range of the sorted list), so a step only looks at tokens that can
continue; the answer for each automaton state is cached, and decoding one answer usually revisits
the same few dozen states.

When the answer is complete (`]}`), generation stops (`stop_when`) or, without it, the stop token is
forced. With a token budget (max_new_tokens), a token is only allowed when the characters still
needed after it fit in the tokens left, so the answer closes in time: a name that cannot be finished
is not started. That guarantee needs each grammar character as a one-character token (byte-level
vocabularies have them) and a budget of at least len('{"passes": []}') = 14 tokens.

    constraint = schedule_constraint(runtime.tokenizer, allowed, eos_token_id)
    decoder = constraint.decoder(max_new_tokens)
    ids = runtime.generate(prompt, max_new_tokens, logits_processor=decoder.process,
                           stop_when=decoder.finished)
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from passlib import schedule

ANSWER_OPEN = '{"passes": ['
ANSWER_CLOSE = "]}"
NAME_SEPARATOR = ", "
QUOTE = '"'
# Characters a name may not hold: they would need JSON escapes, or be stripped by parse_answer.
_FORBIDDEN_NAME_CHARACTERS = frozenset('"\\') | frozenset(chr(c) for c in range(0x20))


def is_schedule_answer_schema(schema: Mapping[str, Any] | None) -> bool:
    """Whether a JSON schema has the shape of `schedule.answer_schema`: an object whose `passes`
    is an array of string enums (the allowed names)."""
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        return False
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or set(properties) != {"passes"}:
        return False
    passes = properties["passes"]
    if not isinstance(passes, Mapping) or passes.get("type") != "array":
        return False
    items = passes.get("items")
    if not isinstance(items, Mapping) or items.get("type") != "string":
        return False
    names = items.get("enum")
    return isinstance(names, list) and all(isinstance(name, str) and name for name in names)


def schema_pass_names(schema: Mapping[str, Any]) -> list[str]:
    """The allowed names of a schedule answer schema (see is_schedule_answer_schema)."""
    return list(schema["properties"]["passes"]["items"]["enum"])


# --- the grammar, as a character automaton ------------------------------------------------------


_PLAIN, _OPENS_NAME, _CLOSES_NAME = 0, 1, 2


class AnswerGrammar:
    """A character automaton for the canonical schedule answer.

    A state is (node, count): the node of a small automaton (the opening text, a trie of the names,
    the separator, the closing text) and the number of names finished. An edge into a new name is
    only taken while count < max_length; the quote that closes a name adds one to count.
    """

    def __init__(self, names: Iterable[str], max_length: int = schedule.MAX_PIPELINE_LENGTH) -> None:
        self.names = tuple(dict.fromkeys(names))
        for name in self.names:
            if not name or name != name.strip() or name.startswith("-") or (
                    set(name) & _FORBIDDEN_NAME_CHARACTERS):
                raise ValueError(f"pass name {name!r} cannot be written as a plain JSON string")
        if max_length < 0:
            raise ValueError(f"max_length must be >= 0, got {max_length}")
        self.max_length = max_length if self.names else 0
        # _edges[node][char] = (next node, edge kind)
        self._edges: list[dict[str, tuple[int, int]]] = []
        self.start = self._node()
        list_open, name_root, after_name, closing, self.done = (self._node() for _ in range(5))
        self._chain(self.start, ANSWER_OPEN, list_open)
        self._edges[list_open][QUOTE] = (name_root, _OPENS_NAME)
        self._chain(list_open, ANSWER_CLOSE[0], closing)
        self._chain(after_name, ANSWER_CLOSE[0], closing)
        self._chain(closing, ANSWER_CLOSE[1:], self.done)
        # ', "' opens the next name: its first character is where the length cap applies
        separator = self._node()
        self._edges[after_name][NAME_SEPARATOR[0]] = (separator, _OPENS_NAME)
        self._chain(separator, NAME_SEPARATOR[1:] + QUOTE, name_root)
        for name in self.names:
            node = name_root
            for char in name:
                if char not in self._edges[node]:
                    self._edges[node][char] = (self._node(), _PLAIN)
                node = self._edges[node][char][0]
            self._edges[node][QUOTE] = (after_name, _CLOSES_NAME)
        self._distance = self._distances()

    def _node(self) -> int:
        self._edges.append({})
        return len(self._edges) - 1

    def _chain(self, node: int, text: str, last: int) -> None:
        """Edges spelling `text` from `node` to `last` through new nodes."""
        for index, char in enumerate(text):
            following = last if index == len(text) - 1 else self._node()
            self._edges[node][char] = (following, _PLAIN)
            node = following

    def _distances(self) -> list[int]:
        """The fewest characters from each node to a complete answer (relaxation on a tiny graph)."""
        distance = [1 << 30] * len(self._edges)
        distance[self.done] = 0
        changed = True
        while changed:
            changed = False
            for node, edges in enumerate(self._edges):
                for following, _ in edges.values():
                    if distance[following] + 1 < distance[node]:
                        distance[node] = distance[following] + 1
                        changed = True
        return distance

    @property
    def initial(self) -> tuple[int, int]:
        """The state before any character."""
        return (self.start, 0)

    def next_characters(self, state: tuple[int, int]) -> list[tuple[str, tuple[int, int]]]:
        """The characters that may follow in `state`, each with the state it leads to."""
        node, count = state
        result = []
        for char, (following, kind) in self._edges[node].items():
            if kind == _OPENS_NAME and count >= self.max_length:
                continue
            result.append((char, (following, count + 1 if kind == _CLOSES_NAME else count)))
        return result

    def step(self, state: tuple[int, int] | None, text: str) -> tuple[int, int] | None:
        """The state after `text`, or None when `text` leaves the grammar."""
        for char in text:
            if state is None:
                return None
            state = dict(self.next_characters(state)).get(char)
        return state

    def finished(self, state: tuple[int, int] | None) -> bool:
        """Whether the answer in `state` is complete (nothing may follow)."""
        return state is not None and state[0] == self.done

    def distance(self, state: tuple[int, int]) -> int:
        """The fewest characters that complete the answer from `state`."""
        return self._distance[state[0]]


# --- the vocabulary ------------------------------------------------------------------------------


class TokenTexts:
    """Each token's text, sorted for prefix search; special tokens and tokens whose text is empty or
    not exactly reproducible by concatenation are left out (they never fit the grammar)."""

    def __init__(self, texts: Mapping[int, str]) -> None:
        pairs = sorted((text, token) for token, text in texts.items() if text)
        self.texts = [text for text, _ in pairs]
        self.ids = np.array([token for _, token in pairs], dtype=np.int64)
        self.text_of = {token: text for text, token in pairs}

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "TokenTexts":
        """From an HF `tokenizers.Tokenizer`: the text each token adds after a plain anchor token,
        so that decoders that drop a leading space on the first token (Metaspace) are read right."""
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        special = {token for token, added in tokenizer.get_added_tokens_decoder().items() if added.special}
        anchor = tokenizer.token_to_id("a")
        if anchor is None:
            decoded = tokenizer.decode_batch([[token] for token in range(size)], skip_special_tokens=False)
            return cls({token: text for token, text in enumerate(decoded) if token not in special})
        anchor_text = tokenizer.decode([anchor], skip_special_tokens=False)
        decoded = tokenizer.decode_batch([[anchor, token] for token in range(size)], skip_special_tokens=False)
        texts = {}
        for token, text in enumerate(decoded):
            if token in special or not text.startswith(anchor_text) or "\ufffd" in text:
                continue
            texts[token] = text[len(anchor_text):]
        return cls(texts)

    def prefix_range(self, prefix: str, low: int = 0, high: int | None = None) -> tuple[int, int]:
        """The index range of the texts that start with `prefix` (within [low, high))."""
        high = len(self.texts) if high is None else high
        if not prefix:
            return low, high
        start = bisect.bisect_left(self.texts, prefix, low, high)
        end = bisect.bisect_left(self.texts, prefix[:-1] + chr(ord(prefix[-1]) + 1), start, high)
        return start, end


@dataclasses.dataclass(frozen=True)
class _Step:
    """The tokens allowed in one grammar state, the state each leads to, and how many characters
    each leaves to complete the answer."""

    allowed: np.ndarray
    following: dict[int, tuple[int, int]]
    distance_after: np.ndarray


class ScheduleConstraint:
    """The schedule-answer grammar over one vocabulary; the allowed tokens of each state are
    computed once and cached (thread-safe)."""

    def __init__(self, grammar: AnswerGrammar, texts: TokenTexts, eos_token_id: int | None) -> None:
        self.grammar = grammar
        self.texts = texts
        self.eos_token_id = eos_token_id
        self._steps: dict[tuple[int, int], _Step] = {}
        self._lock = threading.Lock()

    def step(self, state: tuple[int, int]) -> _Step:
        """The allowed tokens in `state` (cached)."""
        found = self._steps.get(state)
        if found is None:
            found = self._compute(state)
            with self._lock:
                self._steps[state] = found
        return found

    def _compute(self, state: tuple[int, int]) -> _Step:
        texts = self.texts.texts
        following: dict[int, tuple[int, int]] = {}
        # Depth-first over prefixes that are valid in the grammar AND begin some token's text.
        pending = [("", state, 0, len(texts))]
        while pending:
            prefix, current, low, high = pending.pop()
            if prefix:
                index = low
                while index < high and texts[index] == prefix:
                    following[int(self.texts.ids[index])] = current
                    index += 1
                low = index
            if low >= high:
                continue
            for char, after in self.grammar.next_characters(current):
                start, end = self.texts.prefix_range(prefix + char, low, high)
                if start < end:
                    pending.append((prefix + char, after, start, end))
        allowed = np.array(sorted(following), dtype=np.int64)
        distance_after = np.array([self.grammar.distance(following[int(token)]) for token in allowed],
                                  dtype=np.int64)
        return _Step(allowed, following, distance_after)

    def decoder(self, max_new_tokens: int | None = None) -> "ConstrainedDecoder":
        """The per-generation state: pass its `process` and `finished` to `LlmRuntime.generate`."""
        return ConstrainedDecoder(self, max_new_tokens)


class ConstrainedDecoder:
    """One constrained generation: follows the tokens chosen so far through the grammar."""

    def __init__(self, constraint: ScheduleConstraint, max_new_tokens: int | None) -> None:
        self.constraint = constraint
        self.max_new_tokens = max_new_tokens
        self.state: tuple[int, int] | None = constraint.grammar.initial
        self._consumed = 0

    def _advance(self, generated: Sequence[int]) -> None:
        while self._consumed < len(generated):
            token = int(generated[self._consumed])
            self._consumed += 1
            if self.state is None or self.constraint.grammar.finished(self.state):
                self.state = None  # anything after the complete answer (the stop token)
                continue
            after = self.constraint.step(self.state).following.get(token)
            if after is None:
                raise ValueError(f"token {token} does not continue the schedule answer; "
                                 "was the logits processor bypassed?")
            self.state = after

    def allowed_tokens(self, generated: Sequence[int]) -> np.ndarray:
        """The token ids allowed after `generated`."""
        self._advance(generated)
        grammar = self.constraint.grammar
        if self.state is None or grammar.finished(self.state):
            eos = self.constraint.eos_token_id
            if eos is None:
                raise ValueError("the schedule answer is complete and the tokenizer has no stop token; "
                                 "pass stop_when=decoder.finished to generate")
            return np.array([eos], dtype=np.int64)
        step = self.constraint.step(self.state)
        if self.max_new_tokens is not None and step.allowed.size:
            # After this token, `left` tokens remain; with one-character tokens, a state `distance`
            # characters from the end needs at most `distance` tokens, so keeping distance <= left
            # after every token closes the answer in time.
            left = self.max_new_tokens - len(generated) - 1
            if int(step.distance_after.max()) > left:
                keep = step.distance_after <= max(left, int(step.distance_after.min()))
                return step.allowed[keep]
        return step.allowed

    def process(self, generated: Sequence[int], logits: np.ndarray) -> np.ndarray:
        """The logits processor: -inf on every token that would leave the grammar."""
        allowed = self.allowed_tokens(generated)
        masked = np.full_like(logits, -np.inf)
        masked[allowed] = logits[allowed]
        return masked

    def finished(self, generated: Sequence[int]) -> bool:
        """The stop condition: True once the answer is complete."""
        self._advance(generated)
        return self.state is None or self.constraint.grammar.finished(self.state)


# --- caches --------------------------------------------------------------------------------------

_TEXTS: dict[int, tuple[Any, TokenTexts]] = {}
_CONSTRAINTS: dict[tuple[int, tuple[str, ...], int, int | None], ScheduleConstraint] = {}
_CACHE_LOCK = threading.Lock()


def token_texts(tokenizer: Any) -> TokenTexts:
    """The token texts of a tokenizer, computed once per tokenizer object."""
    with _CACHE_LOCK:
        entry = _TEXTS.get(id(tokenizer))
        if entry is not None and entry[0] is tokenizer:
            return entry[1]
    texts = TokenTexts.from_tokenizer(tokenizer)
    with _CACHE_LOCK:
        _TEXTS[id(tokenizer)] = (tokenizer, texts)  # holding the tokenizer keeps its id unique
    return texts


def schedule_constraint(tokenizer: Any, names: Iterable[str], eos_token_id: int | None,
                        max_length: int = schedule.MAX_PIPELINE_LENGTH) -> ScheduleConstraint:
    """The constraint for answers naming passes from `names` (cached per tokenizer and names)."""
    names = tuple(dict.fromkeys(names))
    key = (id(tokenizer), names, max_length, eos_token_id)
    texts = token_texts(tokenizer)
    with _CACHE_LOCK:
        found = _CONSTRAINTS.get(key)
    if found is None:
        found = ScheduleConstraint(AnswerGrammar(names, max_length), texts, eos_token_id)
        with _CACHE_LOCK:
            _CONSTRAINTS[key] = found
    return found
