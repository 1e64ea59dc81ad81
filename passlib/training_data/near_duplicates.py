"""Keeping the evaluation functions out of the training data: a near-duplicate index over them.

The evaluation task sets (`passlib/eval_tasks`, `passlib/eval_tasks_hard`, both splits) must not be
in the fine-tuning data, not even renamed or reformatted. `EvaluationIndex` holds every function of
every task's input module; `index.match(module_text)` says whether a candidate module has a function
that is a near-duplicate of one of them, and `check_disjoint(records, index)` runs that over the
final training data (for a test and for the data generator).

The rule
--------
1. Functions. Every `func.func` and `util.func` with a body, at any depth of the module, is compared
   on its own (declarations are skipped). A module is parsed with `iree.compiler.ir` (one context
   per index, from `passlib.ir.new_context`) and each function printed by `passlib.ir.print_ir` in
   the generic form without locations ("generic" normalization: custom syntax, attribute aliases,
   elided defaults and spacing no longer vary). When the text does not parse (a prompt around a
   module, a fragment), each ```-fenced block of it that parses is normalized as a module, and each
   function outside them that parses on its own (one that calls no other function) as well; the
   other functions are cut out of the text by header and balanced braces, `//` comments and
   `loc(...)` removed, and kept as written ("text" normalization). A function is compared only
   with evaluation functions in the same normalization: the index keeps each evaluation function's
   generic form and the text normalization of its file's text and of its pretty-printed form.
2. Names. In each function, on its own, SSA value names (`%0`, `%arg1`, `%foo`), block labels
   (`^bb0`), symbol names (`@name`, `@"name"`, and in the generic form `sym_name = "name"`) and
   resource keys (`dense_resource<torch_tensor_4_torch.float32>`: the context renames them when a
   key is parsed twice) are replaced by placeholders numbered in order of first appearance, one
   counter per kind (`%v0`, `^b0`, `@s0`, `r0`). Names inside string literals are left alone. The
   function's own visibility (`private`, `sym_visibility = "private"`) is dropped.
3. Tokens. The text is split into tokens: string literals, placeholders and other sigiled names
   (`#arith.overflow`, `!torch.vtensor`), numbers (`3`, `4.471500e-02`, `0x7FC00000`), identifiers
   (`arith.addi`, `f32`; the `x` of a shape such as `2x4xf32` is a token of its own) and single
   punctuation characters. The normalized text is the tokens joined by single spaces: whitespace
   (and its absence, `a,b` or `a, b`) does not matter.
4. Near-duplicates. Two functions are near-duplicates when their normalized texts are equal, or,
   when both have at least `MIN_FUZZY_OPS` = 3 operations (counting the terminator and nested
   operations, not the function itself), when the Jaccard similarity of their sets of token 5-grams
   is at least `THRESHOLD` = 0.84. Smaller functions (`return %arg0`; one operation and a return)
   are near-duplicates only when equal. The cut is by operations rather than tokens because the
   generic form's wrapper (`"func.func"() <{function_type = (i32) -> i32, sym_name = @s0}> ({ ...`)
   is most of a small function's tokens: `return %arg0` is 49 tokens, `a + b` 82, and the 5-grams
   of `a + b` and `a - b` (one token apart) have similarity 0.87, which would make every small
   function a near-duplicate of every other one of its shape.

Why 0.84. Measured by `python3 -m passlib.training_data.near_duplicates --measure` (`measure()`)
over both task sets: 100 tasks, 112 input functions in the generic form, 109 of them with at least 3
operations.
  (a) The highest similarity of each evaluation function to any *other* evaluation function (as the
      rule compares): median 0.45, 95th percentile 0.80, maximum 0.89. Only three functions reach
      0.84: `x * 3`, `x * 4` and `x * -1` (sr_mul_by_three/four/minus_one, 0.88-0.89), which differ
      in the constant alone, i.e. are near-duplicates of each other by this very rule. The next
      are three-operation functions two tokens apart, an operation and a constant (`x + 1` vs
      `x * -1`: 0.81; `x * 2.0` vs `x / 4.0`: 0.80; `x << 2` vs `x * 4`: 0.80; `x >> 1` vs
      `x /u 8`: 0.77); a function of 4 or more operations is at most 0.67 from any other.
  (b) A copy of each module with every SSA value, block label and function renamed and every line
      re-indented with `,` spacing changed: 112 of 112 functions match exactly (1.0).
  (c) One constant changed (each constant of each function in turn, 253 copies): minimum 0.880
      (three-operation functions), median 0.966; (d) one arith operation swapped for another
      (addi -> subi, mulf -> addf, ...; 192 copies): minimum 0.880, median 0.944.
So one-token edits score >= 0.88 and distinct functions <= 0.81 (0.84 sits between, 0.03-0.04 from
each), and a larger function tolerates proportionally more edits (a 10-operation function two
constants apart still scores ~0.9). The example threshold 0.7 would have made 11 of the 109
evaluation functions near-duplicates of distinct others (two-token edits of three-operation
functions). The text normalization is less tolerant (fewer wrapper tokens): there a one-constant
copy falls below 0.84 in functions of up to 9 operations (3 operations: 0.68), so it catches exact
and renamed copies but edited copies only of larger functions; it is only used for what does not
parse.

The comparison is by an inverted index on the 5-grams (per normalization; functions under
MIN_FUZZY_OPS operations are only in the exact table): matching 2000 modules (random i32 programs of
3-30 operations, or a quarter of them altered evaluation modules) takes ~1.1-1.7 s on one core, the
parse included; building the index ~0.2 s.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import pathlib
import re
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from iree.compiler import ir as mlir

from passlib import ir

# The task sets, relative to the repository root (and resolved against it by default_task_set_paths).
DEFAULT_TASK_SETS = (pathlib.Path("passlib/eval_tasks"), pathlib.Path("passlib/eval_tasks_hard"))
REPO_ROOT = pathlib.Path(__file__).parent.parent.parent
NGRAM = 5
THRESHOLD = 0.84
# Functions with fewer operations than this (terminator included) are matched only when equal.
MIN_FUZZY_OPS = 3
FUNCTION_OPS = ("func.func", "util.func")
GENERIC = "generic"
TEXT = "text"

_STRING = r'"(?:[^"\\]|\\.)*"'
_NAME_CHARS = r"[A-Za-z0-9_$.\-]"
# Strings first, so that names inside them are left alone.
_RENAME = re.compile(
    rf"(?P<string>{_STRING})|(?P<ssa>%{_NAME_CHARS}+)|(?P<block>\^{_NAME_CHARS}+)"
    rf"|(?P<symbol>@(?:{_STRING}|[A-Za-z0-9_$.]+))|(?<=\bdense_resource<)(?P<resource>[^<>]+)(?=>)"
)
_SYM_NAME = re.compile(rf"\bsym_name = ({_STRING})")
# The function's own visibility (public, private), in its attributes or its header.
_GENERIC_VISIBILITY = re.compile(r', sym_visibility = "(?:public|private|nested)"(?=[,}])')
_TEXT_VISIBILITY = re.compile(r"^((?:func\.func|util\.func))\s+(?:public|private|nested)\s+")
_TOKEN = re.compile(
    rf"""{_STRING}                              # string literal
    | [%^@#!](?:{_STRING}|[A-Za-z0-9_$.\-]*)    # placeholder or other sigiled name
    | 0x[0-9A-Fa-f]+                            # hexadecimal number
    | \d+(?:\.\d*)?(?:[eE][+-]?\d+)?            # number
    | (?<=[\d?])x                               # the x of a shape, 2x4xf32
    | [A-Za-z_][A-Za-z0-9_$.]*                  # identifier, operation name
    | \S                                        # punctuation
    """,
    re.VERBOSE,
)
_LINE_COMMENT = re.compile(rf"({_STRING})|//[^\n]*")
_LOCATION = re.compile(rf'\s*\bloc\((?:[^()"]|{_STRING}|\((?:[^()"]|{_STRING})*\))*\)')
_FUNCTION_HEADER = re.compile(
    r"(?:^|(?<=[\s{;]))(?:func\.func|util\.func)\s+(?:(?:public|private|nested)\s+)?"
    rf"@(?P<name>{_STRING}|[A-Za-z0-9_$.]+)"
)
_BLOCK_LABEL_LINE = re.compile(r"^\s*\^[^:]*:\s*$")
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class NormalizedFunction:
    """One function of a module after normalization (see the module docstring)."""

    name: str
    form: str  # GENERIC or TEXT
    text: str  # the normalized text: tokens joined by single spaces
    ops: int  # operations in its body, terminators included
    ngrams: frozenset[int]  # hashes of its token 5-grams

    @property
    def trivial(self) -> bool:
        """Too small for the similarity test: matched only when equal."""
        return self.ops < MIN_FUZZY_OPS


@dataclasses.dataclass(frozen=True)
class EvaluationFunction:
    """A function of an evaluation task's input, in one normalization."""

    task: str
    function: str
    source: str  # the input file (or the name given to from_texts)
    split: str
    normalized: NormalizedFunction


@dataclasses.dataclass(frozen=True)
class Match:
    """A candidate's function that is a near-duplicate of an evaluation function."""

    task: str  # the evaluation task whose input holds the function
    function: str  # the evaluation function's name
    candidate_function: str  # the candidate's function's name
    similarity: float  # Jaccard similarity of the 5-gram sets; 1.0 when exact
    exact: bool  # the normalized texts are equal
    form: str  # the normalization both were compared in (GENERIC or TEXT)
    source: str = ""
    split: str = ""
    trivial: bool = False  # a function under MIN_FUZZY_OPS operations (only exact matches)

    def __str__(self) -> str:
        how = "an exact copy" if self.exact else f"a near-duplicate (similarity {self.similarity:.2f})"
        where = ", ".join(part for part in (self.split, self.source) if part)
        return (f"function @{self.candidate_function} is {how} of @{self.function} of evaluation "
                f"task {self.task!r}" + (f" ({where})" if where else ""))


@dataclasses.dataclass(frozen=True)
class Problem:
    """A training record that holds an evaluation function."""

    record: str  # the record's name, or its position in the input
    field: str  # where in the record ("" for a plain text, else the key path)
    match: Match

    def __str__(self) -> str:
        where = f"{self.record}" + (f" [{self.field}]" if self.field else "")
        return f"{where}: {self.match}"


# --- normalization ----------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """The tokens of (renamed) MLIR text: strings, sigiled names, numbers, identifiers, punctuation."""
    return _TOKEN.findall(text)


def rename(text: str) -> str:
    """SSA values, block labels and symbols replaced by placeholders in order of first appearance."""
    tables: dict[str, dict[str, str]] = {"ssa": {}, "block": {}, "symbol": {}, "resource": {}}
    prefixes = {"ssa": "%v", "block": "^b", "symbol": "@s", "resource": "r"}

    def replace(found: re.Match[str]) -> str:
        kind = found.lastgroup
        if kind == "string":
            return found.group()
        name = found.group() if kind == "resource" else found.group()[1:]
        if kind == "symbol" and name.startswith('"'):
            name = name[1:-1]
        table = tables[kind]
        if name not in table:
            table[name] = f"{prefixes[kind]}{len(table)}"
        return table[name]

    return _RENAME.sub(replace, text)


def _ngrams(words: Sequence[str]) -> frozenset[int]:
    if len(words) < NGRAM:
        return frozenset({hash(tuple(words))})
    return frozenset(hash(tuple(words[i:i + NGRAM])) for i in range(len(words) - NGRAM + 1))


def _normalized(name: str, form: str, text: str, ops: int) -> NormalizedFunction:
    if form == GENERIC:
        text = _SYM_NAME.sub(lambda found: "sym_name = @" + found.group(1), text)
        head, newline, body = text.partition("\n")  # the function's own attributes: first line
        text = _GENERIC_VISIBILITY.sub("", head) + newline + body
    else:
        text = _TEXT_VISIBILITY.sub(r"\1 ", text)
    words = tokens(rename(text))
    return NormalizedFunction(name, form, " ".join(words), ops, _ngrams(words))


def _function_ops(module: mlir.Operation) -> list[mlir.Operation]:
    """func.func and util.func operations with a body, nested modules included, in order."""
    found = []

    def visit(block: mlir.Block) -> None:
        for op in block.operations:
            op = op.operation
            if op.name in FUNCTION_OPS:
                if len(op.regions[0].blocks) > 0:
                    found.append(op)
            elif op.name == "builtin.module":
                visit(op.regions[0].blocks[0])

    visit(module.regions[0].blocks[0])
    return found


@functools.cache
def _shared_context() -> mlir.Context:
    """The context of normalize_module calls not given one (creating one takes ~10 ms)."""
    return ir.new_context()


def _parse(text: str, context: mlir.Context) -> mlir.Module | None:
    # mlir.Module.parse rather than ir.parse_module: a failure needs no stage (which would cost an
    # iree-opt run per text), only the fallback to the text normalization.
    try:
        return mlir.Module.parse(text, context)
    except (mlir.MLIRError, ValueError, RuntimeError):
        return None


def _generic_functions(module: mlir.Module) -> list[NormalizedFunction]:
    return [
        _normalized(ir.symbol_name(op) or "", GENERIC, ir.print_ir(op, generic=True), ir.count_ops(op))
        for op in _function_ops(module.operation)
    ]


def _pretty_functions(module: mlir.Module) -> list[NormalizedFunction]:
    return [function for op in _function_ops(module.operation)
            for function in _text_functions(ir.print_ir(op, generic=False))]


def _skip_string(text: str, index: int) -> int:
    """The index after the string literal that starts at text[index] (a quote)."""
    index += 1
    while index < len(text) and text[index] != '"':
        index += 2 if text[index] == "\\" else 1
    return index + 1


def _balanced(text: str, index: int, opening: str, closing: str) -> int:
    """The index after the group that opens at text[index]; len(text) when it never closes."""
    depth = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _skip_string(text, index)
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(text)


def _body_span(text: str, start: int) -> tuple[int, int] | None:
    """Where the body of the function whose header ends at `start` is: (open brace, after close).

    The signature is skipped group by group (parenthesized argument and result lists, `attributes
    {...}`); a newline outside them before the body's brace means a declaration.
    """
    index = start
    while index < len(text):
        char = text[index]
        if char == "(":
            index = _balanced(text, index, "(", ")")
        elif char == '"':
            index = _skip_string(text, index)
        elif char == "{":
            if re.search(r"\battributes\s*$", text[start:index]):
                index = _balanced(text, index, "{", "}")
                start = index
            else:
                return index, _balanced(text, index, "{", "}")
        elif char == "\n" or char == "}":
            return None
        else:
            index += 1
    return None


def _count_text_ops(body: str) -> int:
    """Operations in a pretty-printed body (with its braces): lines other than braces and labels."""
    count = 0
    for line in body[1:-1].splitlines():
        stripped = line.strip()
        if stripped and not re.fullmatch(r"[{}()\s]*", stripped) and not _BLOCK_LABEL_LINE.match(line):
            count += 1
    return count


def _function_spans(text: str) -> Iterable[tuple[str, str, int]]:
    """(name, text, operations) of each function with a body in MLIR text (or text holding MLIR),
    cut out by its header and balanced braces, `//` comments and `loc(...)` removed."""
    text = _LINE_COMMENT.sub(lambda found: found.group(1) or "", text)
    text = _LOCATION.sub("", text)
    position = 0
    while True:
        header = _FUNCTION_HEADER.search(text, position)
        if header is None:
            return
        span = _body_span(text, header.end())
        if span is None:
            position = header.end()
            continue
        yield (header.group("name").strip('"'), text[header.start():span[1]],
               _count_text_ops(text[span[0]:span[1]]))
        position = span[1]


def _text_functions(text: str) -> list[NormalizedFunction]:
    """The text normalization of every function of `text` (see _function_spans)."""
    return [_normalized(name, TEXT, span, ops) for name, span, ops in _function_spans(text)]


def normalize_module(text: str, context: mlir.Context | None = None) -> list[NormalizedFunction]:
    """The normalized functions of a module (or of text holding MLIR, such as a prompt).

    The generic form when the text parses. Else each ```-fenced block that parses gives the generic
    form of its functions, and of the functions outside them, each one that parses on its own (it
    calls no other function) gives its generic form and the others their text normalization.
    """
    context = context or _shared_context()
    module = _parse(text, context)
    if module is not None:
        return _generic_functions(module)
    found = []
    rest = text
    for fence in _FENCE.finditer(text):
        if "func" in fence.group(1) and (module := _parse(fence.group(1), context)) is not None:
            found.extend(_generic_functions(module))
            rest = rest.replace(fence.group(0), "\n", 1)
    for name, span, ops in _function_spans(rest):
        module = _parse(span, context)
        found.extend(_generic_functions(module) if module is not None
                     else [_normalized(name, TEXT, span, ops)])
    return found


def jaccard(first: frozenset[int], second: frozenset[int]) -> float:
    """|A & B| / |A | B| (1.0 for two empty sets)."""
    union = len(first | second)
    return len(first & second) / union if union else 1.0


def similarity(first: NormalizedFunction, second: NormalizedFunction) -> float:
    """The rule's similarity: 1.0 when equal, else the 5-gram Jaccard similarity."""
    return 1.0 if first.text == second.text else jaccard(first.ngrams, second.ngrams)


# --- the index --------------------------------------------------------------------------------------------


def default_task_set_paths() -> list[pathlib.Path]:
    """DEFAULT_TASK_SETS resolved against the repository root."""
    return [REPO_ROOT / path for path in DEFAULT_TASK_SETS]


class EvaluationIndex:
    """The evaluation functions, by exact normalized text and by 5-gram (per normalization form)."""

    def __init__(self, functions: Iterable[EvaluationFunction], threshold: float = THRESHOLD,
                 context: mlir.Context | None = None) -> None:
        self.threshold = threshold
        self.functions: list[EvaluationFunction] = []
        self._context = context or ir.new_context()
        self._exact: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
        self._postings: dict[tuple[str, int], list[int]] = collections.defaultdict(list)
        seen: set[tuple[str, str, str, str]] = set()
        for function in functions:
            key = (function.task, function.function, function.normalized.form, function.normalized.text)
            if key in seen:  # the file's text and its pretty form often normalize alike
                continue
            seen.add(key)
            position = len(self.functions)
            self.functions.append(function)
            normalized = function.normalized
            self._exact[(normalized.form, normalized.text)].append(position)
            if not normalized.trivial:
                for gram in normalized.ngrams:
                    self._postings[(normalized.form, gram)].append(position)

    @classmethod
    def from_texts(cls, named_texts: Mapping[str, str] | Iterable[tuple[str, str]],
                   threshold: float = THRESHOLD, split: str = "") -> EvaluationIndex:
        """An index over modules given as (task name, module text) pairs or a name -> text mapping."""
        items = named_texts.items() if isinstance(named_texts, Mapping) else named_texts
        context = ir.new_context()
        functions = []
        for name, text in items:
            functions.extend(_evaluation_functions(name, text, name, split, context))
        return cls(functions, threshold, context)

    @classmethod
    def from_task_sets(cls, paths: Sequence[pathlib.Path] | None = None, threshold: float = THRESHOLD,
                       include_references: bool = False) -> EvaluationIndex:
        """An index over every task's input module (every split) of the task set directories.

        `paths` defaults to DEFAULT_TASK_SETS; a relative path that does not exist from the working
        directory is taken from the repository root. Tasks are read by `evaluate.load_task_set`.
        With `include_references`, the reference answers of rewrite tasks are indexed as well.
        """
        from passlib import evaluate  # the driver's modules, only when task sets are read

        context = ir.new_context()
        functions = []
        for path in paths if paths is not None else DEFAULT_TASK_SETS:
            path = pathlib.Path(path)
            if not path.is_absolute() and not path.exists():
                path = REPO_ROOT / path
            for task in evaluate.load_task_set(path):
                files = [task.input] + ([task.reference] if include_references and task.reference else [])
                for file in files:
                    text = file.read_text(encoding="utf-8")
                    functions.extend(_evaluation_functions(task.name, text, str(file), task.split, context))
        return cls(functions, threshold, context)

    @property
    def tasks(self) -> list[str]:
        """The indexed tasks' names, in order."""
        return list(dict.fromkeys(function.task for function in self.functions))

    def normalize(self, module_text: str) -> list[NormalizedFunction]:
        """The module's functions, normalized as the index's are (see normalize_module)."""
        return normalize_module(module_text, self._context)

    def function_matches(self, function: NormalizedFunction) -> list[Match]:
        """The evaluation functions `function` is a near-duplicate of, most similar first."""
        scores: dict[int, float] = {}
        for position in self._exact.get((function.form, function.text), ()):
            scores[position] = 1.0
        if not function.trivial:
            shared: collections.Counter[int] = collections.Counter()
            for gram in function.ngrams:
                shared.update(self._postings.get((function.form, gram), ()))
            for position, count in shared.items():
                other = self.functions[position].normalized.ngrams
                score = count / (len(function.ngrams) + len(other) - count)
                if score >= self.threshold and position not in scores:
                    scores[position] = score
        matches = []
        for position, score in scores.items():
            entry = self.functions[position]
            exact = entry.normalized.text == function.text
            matches.append(Match(entry.task, entry.function, function.name, score, exact,
                                 function.form, entry.source, entry.split,
                                 function.trivial or entry.normalized.trivial))
        matches.sort(key=lambda match: (-match.similarity, not match.exact))
        return matches

    def matches(self, module_text: str) -> list[Match]:
        """Every (candidate function, evaluation function) near-duplicate pair, most similar first."""
        found = [match for function in self.normalize(module_text)
                 for match in self.function_matches(function)]
        found.sort(key=lambda match: (-match.similarity, not match.exact))
        return found

    def match(self, module_text: str) -> Match | None:
        """The most similar evaluation function some function of the module duplicates, or None."""
        found = self.matches(module_text)
        return found[0] if found else None


def _evaluation_functions(task: str, text: str, source: str, split: str,
                          context: mlir.Context) -> list[EvaluationFunction]:
    module = _parse(text, context)
    normalized = _text_functions(text)
    if module is not None:
        normalized = _generic_functions(module) + normalized + _pretty_functions(module)
    return [EvaluationFunction(task, function.name, source, split, function) for function in normalized]


# --- the held-apart check ---------------------------------------------------------------------------------


def _record_texts(record: Any, field: str = "") -> Iterable[tuple[str, str]]:
    """(field, text) for every string of a record that may hold MLIR functions."""
    if isinstance(record, str):
        if "func.func" in record or "util.func" in record:
            yield field, record
    elif isinstance(record, Mapping):
        for key, value in record.items():
            yield from _record_texts(value, f"{field}.{key}" if field else str(key))
    elif isinstance(record, (list, tuple)):
        for position, value in enumerate(record):
            yield from _record_texts(value, f"{field}[{position}]")
    elif dataclasses.is_dataclass(record) and not isinstance(record, type):
        yield from _record_texts(dataclasses.asdict(record), field)


def _record_name(record: Any, position: int) -> str:
    name = record.get("name") if isinstance(record, Mapping) else getattr(record, "name", None)
    return str(name) if isinstance(name, str) and name else f"record {position}"


def check_disjoint(records_or_texts: Iterable[Any], index: EvaluationIndex,
                   include_trivial: bool = True) -> list[Problem]:
    """Every training record that holds a near-duplicate of an evaluation function; empty when none.

    A record is a module text, a `Candidate` (or any dataclass) or a JSON-like mapping (a training
    example with prompt and completion); every string in it that mentions `func.func` or `util.func`
    is checked, so a module inside a prompt's prose is found by the text normalization. One problem
    per (record, field), the most similar match. `include_trivial=False` leaves out exact copies of
    functions under MIN_FUZZY_OPS operations (e.g. a two-operation helper).
    """
    problems = []
    for position, record in enumerate(records_or_texts):
        name = _record_name(record, position)
        for field, text in _record_texts(record):
            found = [match for match in index.matches(text) if include_trivial or not match.trivial]
            if found:
                problems.append(Problem(name, field, found[0]))
    return problems


# --- measurement ------------------------------------------------------------------------------------------


def _describe(values: Sequence[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "none"
    quantile = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return (f"n={len(ordered)} min={ordered[0]:.3f} median={statistics.median(ordered):.3f} "
            f"p95={quantile(0.95):.3f} max={ordered[-1]:.3f}")


_CONSTANT = re.compile(
    r"(?P<head>(?:arith\.constant|torch\.constant\.(?:int|float))\s+(?:dense<)?\[?)"
    r"(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
)


def change_one_constant(text: str, occurrence: int = 0) -> str | None:
    """`text` with the value of its `occurrence`-th scalar constant changed; None when it has none.

    Integers get 1 added (2 for 0 and -1, so that the value's "sign" changes as little as possible);
    floats get 0.5 added. (A measurement helper: the copy the threshold must still catch.)
    """
    found = list(_CONSTANT.finditer(text))
    if occurrence >= len(found):
        return None
    constant = found[occurrence]
    number = constant.group("number")
    if re.fullmatch(r"-?\d+", number):
        value = int(number)
        changed = str(value + (2 if value in (0, -1) else 1))
    else:
        changed = repr(float(number) + 0.5)
    return text[:constant.start("number")] + changed + text[constant.end("number"):]


def renamed_copy(text: str) -> str:
    """`text` with its SSA values, block labels and symbols renamed and its whitespace reformatted.

    (A measurement helper: the copy must match exactly.) Names inside strings are left alone.
    """
    def replace(found: re.Match[str]) -> str:
        kind, name = found.lastgroup, found.group()
        if kind in ("string", "resource"):  # resource keys must agree with the resources section
            return name
        if kind == "symbol":
            bare = name[1:].strip('"')
            return f'@"renamed_{bare}"' if name[1] == '"' else f"@renamed_{bare}"
        return f"{name[0]}x_{name[1:].replace('-', '_')}"

    renamed = _RENAME.sub(replace, text)
    lines = [("    " + line.strip()).replace(", ", " ,  ") for line in renamed.splitlines()]
    return "\n\n".join(lines) + "\n"


_SWAPPED_OPS = {
    "arith.addi": "arith.subi", "arith.subi": "arith.addi", "arith.muli": "arith.addi",
    "arith.xori": "arith.ori", "arith.ori": "arith.andi", "arith.andi": "arith.ori",
    "arith.addf": "arith.subf", "arith.subf": "arith.addf", "arith.mulf": "arith.addf",
    "arith.divf": "arith.mulf", "arith.maximumf": "arith.minimumf", "arith.minimumf": "arith.maximumf",
}
_SWAPPABLE = re.compile(r"\b(?:" + "|".join(re.escape(name) for name in _SWAPPED_OPS) + r")\b")


def swap_one_operation(text: str, occurrence: int = 0) -> str | None:
    """`text` with its `occurrence`-th swappable arith operation replaced (addi -> subi, ...)."""
    found = list(_SWAPPABLE.finditer(text))
    if occurrence >= len(found):
        return None
    op = found[occurrence]
    return text[:op.start()] + _SWAPPED_OPS[op.group()] + text[op.end():]


def _altered_scores(index: EvaluationIndex, entry: EvaluationFunction, text: str,
                    alter: Any) -> list[float]:
    """The similarity to `entry` of its function in each alteration of `text` that changes it."""
    scores = []
    occurrence = 0
    while (altered_text := alter(text, occurrence)) is not None:
        occurrence += 1
        altered = {function.name: function for function in index.normalize(altered_text)}
        function = altered.get(entry.function)
        if function is None or function.text == entry.normalized.text:
            continue  # the alteration is in another function
        same = [other.normalized for other in index.functions
                if (other.task, other.function, other.normalized.form)
                == (entry.task, entry.function, function.form)]
        scores.append(max(similarity(function, other) for other in same))
    return scores


def measure(paths: Sequence[pathlib.Path] | None = None, threshold: float = THRESHOLD) -> str:
    """The figures behind THRESHOLD, over the generic form of the task sets' input functions.

    (a) each function's highest similarity to any other evaluation function; (b) a renamed and
    reformatted copy of each module against the original; (c) for each constant of each function,
    the function with that constant changed against the original; (d) the same with one arith
    operation swapped for another (addi -> subi, mulf -> addf, ...). Functions under MIN_FUZZY_OPS
    operations are left out of (a), (c) and (d): they match only exactly.
    """
    started = time.perf_counter()
    index = EvaluationIndex.from_task_sets(paths, threshold)
    generic = [entry for entry in index.functions if entry.normalized.form == GENERIC]
    fuzzy = [entry for entry in generic if not entry.normalized.trivial]
    lines = [f"{len(generic)} evaluation functions ({len(fuzzy)} with >= {MIN_FUZZY_OPS} operations) "
             f"of {len(index.tasks)} tasks, indexed in {time.perf_counter() - started:.2f} s; "
             f"threshold {threshold}"]
    nearest = []
    for entry in fuzzy:
        # As the rule compares: functions under MIN_FUZZY_OPS operations only when equal.
        best, best_other = max(((similarity(entry.normalized, other.normalized), other)
                                for other in generic if other is not entry
                                and (not other.normalized.trivial
                                     or other.normalized.text == entry.normalized.text)),
                               key=lambda item: item[0])
        nearest.append((best, entry, best_other))
    nearest.sort(key=lambda item: -item[0])
    above = [item for item in nearest if item[0] >= threshold]
    lines.append("(a) highest similarity to another evaluation function: "
                 + _describe([score for score, _, _ in nearest]) + f"; {len(above)} at or above")
    for score, entry, other in nearest[:max(len(above) + 6, 8)]:
        mark = "*" if score >= threshold else " "
        lines.append(f"  {mark} {score:.3f} {entry.task}/@{entry.function} ({entry.normalized.ops} ops)"
                     f" ~ {other.task}/@{other.function} ({other.normalized.ops} ops)")
    started = time.perf_counter()
    texts = {entry.source: pathlib.Path(entry.source).read_text(encoding="utf-8") for entry in generic}
    renamed_scores = []
    for source, text in texts.items():
        copy = {function.name: function for function in index.normalize(renamed_copy(text))}
        for entry in generic:
            if entry.source == source:
                renamed = copy.get("renamed_" + entry.function)
                renamed_scores.append(similarity(entry.normalized, renamed) if renamed else 0.0)
    lines.append("(b) renamed and reformatted copy against its original: " + _describe(renamed_scores))
    for label, alter in (("(c) one constant changed", change_one_constant),
                         ("(d) one arith operation swapped", swap_one_operation)):
        scored = [(score, entry) for entry in fuzzy
                  for score in _altered_scores(index, entry, texts[entry.source], alter)]
        below = [item for item in scored if item[0] < threshold]
        lines.append(f"{label} against the original: "
                     + _describe([score for score, _ in scored]) + f"; {len(below)} below")
        for score, entry in sorted(scored, key=lambda item: item[0])[:3]:
            lines.append(f"    {score:.3f} {entry.task}/@{entry.function} ({entry.normalized.ops} ops)")
    # (e) the text normalization alone (what a function that does not parse gets).
    smallest_caught: dict[int, float] = {}
    for source, text in texts.items():
        originals = {function.name: function for function in _text_functions(text)}
        occurrence = 0
        while (changed := change_one_constant(text, occurrence)) is not None:
            occurrence += 1
            for function in _text_functions(changed):
                original = originals.get(function.name)
                if original and not original.trivial and original.text != function.text:
                    score = similarity(original, function)
                    smallest_caught[original.ops] = min(smallest_caught.get(original.ops, 1.0), score)
    missed = sorted(ops for ops, score in smallest_caught.items() if score < threshold)
    lines.append("(e) text normalization, one constant changed, lowest similarity by operations: "
                 + ", ".join(f"{ops}: {score:.2f}" for ops, score in sorted(smallest_caught.items())[:10])
                 + f"; below the threshold up to {max(missed) if missed else 0} operations")
    lines.append(f"(b)-(e) in {time.perf_counter() - started:.2f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--measure", action="store_true", help="print the figures behind THRESHOLD")
    parser.add_argument("files", nargs="*", type=pathlib.Path, help="MLIR files to check")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    index = EvaluationIndex.from_task_sets()
    if args.measure:
        print(measure())
    problems = check_disjoint((path.read_text(encoding="utf-8") for path in args.files), index)
    for problem in problems:
        print(problem)
    print(f"{len(index.functions)} indexed evaluation function forms, {len(args.files)} files, "
          f"{len(problems)} problems, {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
