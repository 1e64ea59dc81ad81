"""The byte-level BPE tokenizer (GPT-2, SmolLM2, Qwen2) as one MLIR module compiled by IREE.

`encode(text: tensor<?xi8>, flags: i32) -> tensor<?xi32>` runs entirely in one dispatch:

1. special tokens (added tokens) are matched whole, leftmost-longest, on the raw UTF-8 bytes;
2. each stretch of text between them is decoded from UTF-8 to code points and, if the
   tokenizer has an NFC normalizer, normalized (decompose, reorder marks, recompose);
3. the pre-tokenizer regex splits it into words; the regex is not interpreted but implemented
   as a scanner over code-point classes (letters, numbers, whitespace) for the supported
   patterns: GPT-2's, GPT-2's with every digit isolated first (SmolLM2's `smollm`), and
   Qwen2's (case-insensitive contractions, `\\p{N}` in groups of `digit_group`);
4. each word is mapped byte by byte to the byte-level alphabet's token ids and merged by rank
   until no merge applies (`kernel_library.merge_symbols`).

`decode(ids: tensor<?xi32>, skip_special: i32) -> tensor<?xi8>` concatenates each token's bytes
(the byte-level alphabet already mapped back to raw bytes at build time); the host turns the
bytes into a string. Ids outside the vocabulary decode to nothing, as in HF `tokenizers`.
"""

from __future__ import annotations

from tokenizer_model.kernel_library import (
    MergeScratch,
    PairTable,
    StringTable,
    decode_utf8,
    match_longest,
    merge_symbols,
    sorted_lookup,
    utf8_byte,
    utf8_length,
)
from tokenizer_model.module_assembly import (
    FunctionBody,
    TableLayout,
    TableSpec,
    arena_globals,
    function,
    two_pass_decode_function,
)
from tokenizer_model.scalar_kernel import DispatchBuilder, DispatchOperand, DispatchOutput, Scalar
from tokenizer_model.unicode_data import CodepointFlag

ALGORITHM = "bytelevel_bpe"
MODULE_NAME = "bytelevel_bpe_tokenizer"

CONFIG_VERSION, CONFIG_PATTERN, CONFIG_ISOLATE_DIGITS, CONFIG_NORMALIZER, CONFIG_DIGIT_GROUP = range(5)
CONFIG_LENGTH = 5
FORMAT_VERSION = 1
PATTERN_GPT2, PATTERN_QWEN2 = 0, 1
NORMALIZER_NONE, NORMALIZER_NFC = 0, 1
TOKEN_FLAG_SPECIAL = 1  # skipped by decode(skip_special=1)

TABLES = (
    TableSpec("config", "i32"),
    TableSpec("codepoint_flags", "i8"),
    TableSpec("byte_to_token", "i32"),
    TableSpec("merge_offsets", "i32"),
    TableSpec("merge_right", "i32"),
    TableSpec("merge_rank", "i32"),
    TableSpec("merge_result", "i32"),
    TableSpec("special_data", "i8"),
    TableSpec("special_offsets", "i32"),
    TableSpec("special_ids", "i32"),
    TableSpec("special_first_byte", "i32"),
    TableSpec("decomposition_keys", "i32"),
    TableSpec("decomposition_offsets", "i32"),
    TableSpec("decomposition_data", "i32"),
    TableSpec("combining_keys", "i32"),
    TableSpec("combining_classes", "i32"),
    TableSpec("composition_keys", "i64"),
    TableSpec("composition_values", "i32"),
    TableSpec("token_data", "i8"),
    TableSpec("token_offsets", "i32"),
    TableSpec("token_flags", "i8"),
)
LAYOUT = TableLayout(TABLES)

LETTER, NUMBER, WHITESPACE = int(CodepointFlag.LETTER), int(CodepointFlag.NUMBER), int(CodepointFlag.WHITESPACE)
CLASS_MASK = LETTER | NUMBER | WHITESPACE
APOSTROPHE, SPACE, LINE_FEED, CARRIAGE_RETURN = 39, 32, 10, 13
HANGUL_BASE, HANGUL_COUNT = 0xAC00, 11172


class _EncodeKernel:
    """Emits the encode dispatch body."""

    def __init__(self, dispatch: DispatchBuilder) -> None:
        self.dispatch = dispatch
        self.kernel = dispatch.kernel
        self.tables, self.table_lengths = LAYOUT.bind(dispatch)
        kernel, tables = self.kernel, self.tables
        scratch_size = dispatch.input("ids_size")
        for index, name in enumerate(SCRATCH_AREAS):
            kernel.define_view(name, "scratch", scratch_size * index)
        self.text = dispatch.input("text")
        self.text_length = dispatch.input("text_length")
        self.pattern = kernel.load(tables["config"], CONFIG_PATTERN)
        self.isolate_digits = kernel.load(tables["config"], CONFIG_ISOLATE_DIGITS) != 0
        self.use_nfc = kernel.load(tables["config"], CONFIG_NORMALIZER) == NORMALIZER_NFC
        self.digit_group = kernel.load(tables["config"], CONFIG_DIGIT_GROUP)
        self.specials = StringTable(tables["special_data"], tables["special_offsets"], tables["special_ids"],
                                    tables["special_first_byte"])
        self.pairs = PairTable(tables["merge_offsets"], self.table_lengths["merge_offsets"],
                               tables["merge_right"], tables["merge_rank"], tables["merge_result"])
        self.scratch = MergeScratch("symbols", "following", "preceding", "merged", "tree")

    # ----- helpers --------------------------------------------------------------------------

    def flags(self, codepoint: Scalar) -> Scalar:
        return self.kernel.load(self.tables["codepoint_flags"], codepoint)

    def codepoint_at(self, position: Scalar, limit: Scalar) -> Scalar:
        """The code point at `position`, or 0 at or past `limit` (scratch beyond is uninitialized)."""
        kernel = self.kernel
        return kernel.select(position < limit, kernel.load("codepoints", position), 0)

    def emit_token(self, token: Scalar) -> None:
        kernel = self.kernel
        kernel.store("ids", kernel["token_count"], token)
        kernel["token_count"] = kernel["token_count"] + 1

    def scan(self, start: Scalar, limit: Scalar, accepts, name: str) -> Scalar:
        """First position in [start, limit) whose code point `accepts(codepoint, flags)` rejects."""
        kernel = self.kernel
        position, going = f"{name}_position", f"{name}_going"
        kernel.declare(position, start)
        kernel.declare(going, start < limit)

        def step() -> None:
            codepoint = kernel.load("codepoints", kernel[position])
            accepted = accepts(codepoint, self.flags(codepoint))
            kernel[position] = kernel.select(accepted, kernel[position] + 1, kernel[position])
            kernel[going] = accepted & (kernel[position] < limit)

        kernel.while_loop(lambda: kernel[going], step)
        return kernel[position]

    def contraction_length(self, start: Scalar, limit: Scalar, case_insensitive: bool) -> Scalar:
        """2 or 3 if `'s|'t|'re|'ve|'m|'ll|'d` matches at `start`, else 0."""
        kernel = self.kernel

        def fold(codepoint: Scalar) -> Scalar:
            if not case_insensitive:
                return codepoint
            upper = (codepoint >= ord("A")) & (codepoint <= ord("Z"))
            return kernel.select(upper, codepoint + 32, kernel.select(codepoint == 0x17F, ord("s"), codepoint))

        quote = kernel.load("codepoints", start) == APOSTROPHE
        first = fold(self.codepoint_at(start + 1, limit))
        second = fold(self.codepoint_at(start + 2, limit))
        one_letter = kernel.logical_or(*(first == ord(letter) for letter in "stmd"))
        two_letters = kernel.logical_or(*((first == ord(a)) & (second == ord(b)) for a, b in ("re", "ve", "ll")))
        return kernel.select(quote & one_letter, 2, kernel.select(quote & two_letters, 3, 0))

    # ----- pre-tokenizer patterns -------------------------------------------------------------

    def gpt2_word_end(self, start: Scalar, limit: Scalar) -> None:
        """Sets `word_end` for `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`."""
        kernel = self.kernel
        first = kernel.load("codepoints", start)
        first_flags = self.flags(first)
        contraction = self.contraction_length(start, limit, case_insensitive=False)

        def other() -> None:
            has_next = start + 1 < limit
            next_flags = self.flags(self.codepoint_at(start + 1, limit))
            space_prefix = (first == SPACE) & has_next & ((next_flags & WHITESPACE) == 0)
            run_start = kernel.select(space_prefix, start + 1, start)
            run_class = kernel.select(space_prefix, next_flags, first_flags) & CLASS_MASK

            def same_class_run() -> None:
                wanted = run_class & (LETTER | NUMBER)

                def accepts(codepoint: Scalar, flags: Scalar) -> Scalar:
                    return kernel.select(wanted == 0, (flags & CLASS_MASK) == 0, (flags & wanted) != 0)

                kernel["word_end"] = self.scan(run_start, limit, accepts, "run")

            def whitespace_run() -> None:
                end = self.scan(start, limit, lambda codepoint, flags: (flags & WHITESPACE) != 0, "space")
                kernel["word_end"] = kernel.select(end == limit, end, kernel.select(end - start >= 2, end - 1, end))

            kernel.if_then((run_class & WHITESPACE) == 0, same_class_run, whitespace_run)

        kernel.if_then(contraction > 0, lambda: kernel.__setitem__("word_end", start + contraction), other)

    def qwen2_word_end(self, start: Scalar, limit: Scalar) -> None:
        """Sets `word_end` for Qwen2's pattern:
        `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,g}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`.
        """
        kernel = self.kernel
        first = kernel.load("codepoints", start)
        first_flags = self.flags(first)
        has_next = start + 1 < limit
        next_flags = self.flags(self.codepoint_at(start + 1, limit))
        contraction = self.contraction_length(start, limit, case_insensitive=True)
        first_letter = (first_flags & LETTER) != 0
        first_number = (first_flags & NUMBER) != 0
        newline = (first == LINE_FEED) | (first == CARRIAGE_RETURN)
        prefixed_letters = kernel.logical_and(~first_letter, ~first_number, ~newline, has_next,
                                              (next_flags & LETTER) != 0)

        def letters(from_position: Scalar) -> None:
            kernel["word_end"] = self.scan(from_position, limit, lambda c, flags: (flags & LETTER) != 0, "letters")

        def numbers() -> None:
            group_limit = kernel.minimum(limit, start + self.digit_group)
            kernel["word_end"] = self.scan(start, group_limit, lambda c, flags: (flags & NUMBER) != 0, "digits")

        def punctuation_or_space() -> None:
            next_other = has_next & ((next_flags & CLASS_MASK) == 0)
            space_prefix = (first == SPACE) & next_other
            first_other = (first_flags & CLASS_MASK) == 0

            def punctuation() -> None:
                run_end = self.scan(kernel.select(space_prefix, start + 1, start), limit,
                                    lambda c, flags: (flags & CLASS_MASK) == 0, "punctuation")
                kernel["word_end"] = self.scan(run_end, limit,
                                               lambda c, flags: (c == LINE_FEED) | (c == CARRIAGE_RETURN),
                                               "newlines")

            def whitespace() -> None:
                kernel.declare("last_newline", -1)
                kernel.declare("space_end", start)
                kernel.declare("space_going", True)

                def step() -> None:
                    codepoint = kernel.load("codepoints", kernel["space_end"])
                    is_space = (self.flags(codepoint) & WHITESPACE) != 0
                    is_newline = (codepoint == LINE_FEED) | (codepoint == CARRIAGE_RETURN)
                    kernel["last_newline"] = kernel.select(is_space & is_newline, kernel["space_end"],
                                                           kernel["last_newline"])
                    kernel["space_end"] = kernel.select(is_space, kernel["space_end"] + 1, kernel["space_end"])
                    kernel["space_going"] = is_space & (kernel["space_end"] < limit)

                kernel.while_loop(lambda: kernel["space_going"], step)
                end = kernel["space_end"]
                trailing = kernel.select(end == limit, end, kernel.select(end - start >= 2, end - 1, end))
                kernel["word_end"] = kernel.select(kernel["last_newline"] >= 0, kernel["last_newline"] + 1, trailing)

            kernel.if_then(space_prefix | first_other, punctuation, whitespace)

        def not_contraction() -> None:
            kernel.if_then(prefixed_letters, lambda: letters(start + 1), lambda: kernel.if_then(
                first_letter, lambda: letters(start), lambda: kernel.if_then(
                    first_number, numbers, punctuation_or_space)))

        kernel.if_then(contraction > 0, lambda: kernel.__setitem__("word_end", start + contraction),
                       not_contraction)

    # ----- NFC ----------------------------------------------------------------------------------

    def combining_class(self, codepoint: Scalar) -> Scalar:
        kernel, tables = self.kernel, self.tables
        kernel.declare("class_value", 0)

        def look_up() -> None:
            found, position = sorted_lookup(kernel, tables["combining_keys"],
                                            self.table_lengths["combining_keys"], codepoint, "class")
            kernel["class_value"] = kernel.select(found, kernel.load(tables["combining_classes"], position), 0)

        kernel.if_then((self.flags(codepoint) & int(CodepointFlag.NONZERO_COMBINING_CLASS)) != 0, look_up)
        return kernel["class_value"]

    def compose(self, starter: Scalar, mark: Scalar) -> Scalar:
        """The primary composite of (starter, mark), or -1."""
        kernel, tables = self.kernel, self.tables
        kernel.declare("composite", -1)
        lead_vowel = kernel.logical_and(starter >= 0x1100, starter < 0x1113, mark >= 0x1161, mark < 0x1176)
        syllable_index = starter - HANGUL_BASE
        syllable_trail = kernel.logical_and(starter >= HANGUL_BASE, starter < HANGUL_BASE + HANGUL_COUNT,
                                            (syllable_index % 28) == 0, mark > 0x11A7, mark < 0x11C3)

        def table() -> None:
            found, position = sorted_lookup(kernel, tables["composition_keys"],
                                            self.table_lengths["composition_keys"],
                                            (starter << 21) | mark, "compose")
            kernel["composite"] = kernel.select(found, kernel.load(tables["composition_values"], position), -1)

        def not_hangul() -> None:
            kernel.if_then((self.flags(mark) & int(CodepointFlag.COMPOSES_AS_SECOND)) != 0, table)

        kernel.if_then(lead_vowel,
                       lambda: kernel.__setitem__(
                           "composite", HANGUL_BASE + ((starter - 0x1100) * 21 + (mark - 0x1161)) * 28),
                       lambda: kernel.if_then(syllable_trail,
                                              lambda: kernel.__setitem__("composite", starter + (mark - 0x11A7)),
                                              not_hangul))
        return kernel["composite"]

    def normalize_nfc(self) -> None:
        """Rewrites `codepoints[0:codepoint_count]` in NFC, through `decomposed` / `decomposed_classes`."""
        kernel, tables = self.kernel, self.tables
        kernel.declare("decomposed_count", 0)

        def append(codepoint: Scalar) -> None:
            mark_class = self.combining_class(codepoint)
            kernel.declare("insert_at", kernel["decomposed_count"])

            def moves() -> Scalar:
                previous = kernel.maximum(kernel["insert_at"] - 1, 0)
                return kernel.logical_and(mark_class != 0, kernel["insert_at"] > 0,
                                          kernel.load("decomposed_classes", previous) > mark_class)

            def shift() -> None:
                target = kernel["insert_at"]
                kernel.store("decomposed", target, kernel.load("decomposed", target - 1))
                kernel.store("decomposed_classes", target, kernel.load("decomposed_classes", target - 1))
                kernel["insert_at"] = target - 1

            kernel.while_loop(moves, shift)
            kernel.store("decomposed", kernel["insert_at"], codepoint)
            kernel.store("decomposed_classes", kernel["insert_at"], mark_class)
            kernel["decomposed_count"] = kernel["decomposed_count"] + 1

        def decompose(index: Scalar) -> None:
            codepoint = kernel.load("codepoints", index)
            hangul = (codepoint >= HANGUL_BASE) & (codepoint < HANGUL_BASE + HANGUL_COUNT)
            has_table = (self.flags(codepoint) & int(CodepointFlag.HAS_DECOMPOSITION)) != 0
            kernel.declare("mapping_start", 0)
            kernel.declare("mapping_length", 0)

            def look_up() -> None:
                found, position = sorted_lookup(kernel, tables["decomposition_keys"],
                                                self.table_lengths["decomposition_keys"], codepoint,
                                                "decompose")
                start = kernel.load(tables["decomposition_offsets"], position)
                kernel["mapping_start"] = start
                kernel["mapping_length"] = kernel.select(
                    found, kernel.load(tables["decomposition_offsets"], position + 1) - start, 0)

            kernel.if_then(has_table & ~hangul, look_up)
            syllable = codepoint - HANGUL_BASE
            trail = syllable % 28
            hangul_parts = [0x1100 + syllable // 588, 0x1161 + (syllable % 588) // 28, 0x11A7 + trail]
            use_table = has_table & ~hangul & (kernel["mapping_length"] > 0)
            length = kernel.select(hangul, kernel.select(trail == 0, 2, 3),
                                   kernel.select(use_table, kernel["mapping_length"], 1))

            def emit_part(part: Scalar) -> None:
                from_hangul = kernel.select(part == 0, hangul_parts[0],
                                            kernel.select(part == 1, hangul_parts[1], hangul_parts[2]))
                from_table = kernel.load(tables["decomposition_data"],
                                         kernel.select(use_table, kernel["mapping_start"] + part, 0))
                append(kernel.select(hangul, from_hangul, kernel.select(use_table, from_table, codepoint)))

            kernel.for_range(0, length, emit_part)

        kernel.for_range(0, kernel["codepoint_count"], decompose)

        kernel.declare("composed_count", 0)
        kernel.declare("starter_at", -1)
        kernel.declare("last_class", -1)

        def compose_step(index: Scalar) -> None:
            codepoint = kernel.load("decomposed", index)
            mark_class = kernel.load("decomposed_classes", index)
            kernel.declare("combined", -1)
            attempt = (kernel["starter_at"] >= 0) & (
                (kernel["last_class"] == -1) | (kernel["last_class"] < mark_class))

            def try_compose() -> None:
                kernel["combined"] = self.compose(kernel.load("codepoints", kernel["starter_at"]), codepoint)

            kernel.if_then(attempt, try_compose)

            def keep() -> None:
                starter = mark_class == 0
                kernel["starter_at"] = kernel.select(starter, kernel["composed_count"], kernel["starter_at"])
                kernel["last_class"] = kernel.select(starter, -1, mark_class)
                kernel.store("codepoints", kernel["composed_count"], codepoint)
                kernel["composed_count"] = kernel["composed_count"] + 1

            kernel.if_then(kernel["combined"] >= 0,
                           lambda: kernel.store("codepoints", kernel["starter_at"], kernel["combined"]), keep)

        kernel.for_range(0, kernel["decomposed_count"], compose_step)
        kernel["codepoint_count"] = kernel["composed_count"]

    # ----- words --------------------------------------------------------------------------------

    def merge_word(self, start: Scalar, end: Scalar) -> None:
        kernel, tables = self.kernel, self.tables
        kernel.declare("symbol_count", 0)

        def add_character(index: Scalar) -> None:
            codepoint = kernel.load("codepoints", index)
            length = utf8_length(kernel, codepoint)

            def add_byte(part: Scalar) -> None:
                token = kernel.load(tables["byte_to_token"], utf8_byte(kernel, codepoint, length, part))

                def keep() -> None:
                    kernel.store("symbols", kernel["symbol_count"], token)
                    kernel["symbol_count"] = kernel["symbol_count"] + 1

                kernel.if_then(token >= 0, keep)

            kernel.for_range(0, length, add_byte)

        kernel.for_range(start, end, add_character)
        count = kernel["symbol_count"]
        kernel.if_then(count == 1, lambda: self.emit_token(kernel.load("symbols", 0)),
                       lambda: kernel.if_then(count > 1, lambda: merge_symbols(
                           kernel, self.pairs, self.scratch, count,
                           lambda position: self.emit_token(kernel.load("symbols", position)))))

    def pretokenize_and_merge(self) -> None:
        kernel = self.kernel
        count = kernel["codepoint_count"]
        kernel.declare("word_start", 0)
        kernel.declare("digit_free_end", 0)

        def next_word() -> None:
            start = kernel["word_start"]
            kernel.declare("word_end", start + 1)

            def gpt2() -> None:
                kernel.declare("word_limit", count)

                def isolate() -> None:
                    is_digit = (self.flags(kernel.load("codepoints", start)) & NUMBER) != 0

                    def refresh_limit() -> None:
                        kernel["digit_free_end"] = self.scan(
                            start, count, lambda c, flags: (flags & NUMBER) == 0, "digit_free")

                    kernel.if_then(~is_digit & (kernel["digit_free_end"] <= start), refresh_limit)
                    kernel["word_limit"] = kernel.select(is_digit, start + 1, kernel["digit_free_end"])

                kernel.if_then(self.isolate_digits, isolate)
                self.gpt2_word_end(start, kernel["word_limit"])

            kernel.if_then(self.pattern == PATTERN_QWEN2, lambda: self.qwen2_word_end(start, count), gpt2)
            self.merge_word(start, kernel["word_end"])
            kernel["word_start"] = kernel["word_end"]

        kernel.while_loop(lambda: kernel["word_start"] < count, next_word)

    def process_text(self, start: Scalar, end: Scalar) -> None:
        """Tokenizes the bytes [start, end) of the input, which contain no special token."""
        kernel = self.kernel
        kernel.declare("byte_position", start)
        kernel.declare("codepoint_count", 0)

        def decode_step() -> None:
            codepoint, length = decode_utf8(kernel, self.text, kernel["byte_position"], end)
            kernel.store("codepoints", kernel["codepoint_count"], codepoint)
            kernel["codepoint_count"] = kernel["codepoint_count"] + 1
            kernel["byte_position"] = kernel["byte_position"] + length

        kernel.while_loop(lambda: kernel["byte_position"] < end, decode_step)
        kernel.if_then(self.use_nfc, self.normalize_nfc)
        self.pretokenize_and_merge()

    def emit(self) -> None:
        kernel = self.kernel
        length = self.text_length
        kernel.declare("token_count", 0)
        kernel.declare("scan_position", 0)
        kernel.declare("segment_start", 0)
        kernel.declare("finished", False)

        def next_segment() -> None:
            kernel.declare("probe", kernel["scan_position"])
            kernel.declare("special_token", -1)
            kernel.declare("special_length", 0)
            kernel.declare("searching", kernel["scan_position"] < length)

            def search() -> None:
                token, token_length = match_longest(kernel, self.specials, self.text, kernel["probe"], length,
                                                    "special_match")

                def hit() -> None:
                    kernel["special_token"] = token
                    kernel["special_length"] = token_length
                    kernel["searching"] = False

                def miss() -> None:
                    kernel["probe"] = kernel["probe"] + 1
                    kernel["searching"] = kernel["probe"] < length

                kernel.if_then(token >= 0, hit, miss)

            kernel.while_loop(lambda: kernel["searching"], search)
            self.process_text(kernel["segment_start"], kernel["probe"])

            def after_special() -> None:
                self.emit_token(kernel["special_token"])
                kernel["scan_position"] = kernel["probe"] + kernel["special_length"]
                kernel["segment_start"] = kernel["scan_position"]

            kernel.if_then(kernel["special_token"] >= 0, after_special,
                           lambda: kernel.__setitem__("finished", True))

        kernel.while_loop(lambda: ~kernel["finished"], next_segment)
        kernel.store("count", 0, kernel["token_count"])


SCRATCH_AREAS = ("codepoints", "decomposed", "decomposed_classes", "symbols", "following", "preceding", "merged")


def _encode_function() -> list[str]:
    body = FunctionBody()
    body.tensor_argument("text", "i8")
    body.load_arenas(LAYOUT)
    # Bounds (n = input bytes): NFD has at most 4 code points per input character; NFC output has
    # at most 3 bytes per input byte, so a word has at most 3n byte symbols and there are at most
    # 3n ids. Each scratch area is 4n + 8 long; the merge tree has 2 * 2^k < 4 * 3n entries.
    area_size = body.affine_size("area_size", "%text_length", 4, 8)
    scratch_size = body.affine_size("scratch_size", "%text_length", 4 * len(SCRATCH_AREAS), 8 * len(SCRATCH_AREAS))
    tree_size = body.affine_size("tree_size", "%text_length", 12, 16)
    outputs = [DispatchOutput("ids", "i32", area_size), DispatchOutput("count", "i32", "%one"),
               DispatchOutput("scratch", "i32", scratch_size), DispatchOutput("tree", "i64", tree_size)]
    dispatch = DispatchBuilder([DispatchOperand("text", "i8")] + LAYOUT.operands(), outputs)
    _EncodeKernel(dispatch).emit()
    body.dispatch("%encoded", dispatch)
    count = body.read_count("token_total", "%encoded#1", "i32")
    body.keep_alive([(f"%encoded#{index}", f"tensor<?x{output.element}>")
                     for index, output in enumerate(outputs) if index >= 2])
    ids = body.slice_prefix("token_ids", "%encoded#0", "i32", count)
    return function("encode", "%text: tensor<?xi8>", "tensor<?xi32>", body, f"{ids} : tensor<?xi32>")


def _decode_pass(dispatch: DispatchBuilder, write: bool) -> None:
    """Sums (write=False) or copies (write=True) the bytes of each token."""
    kernel = dispatch.kernel
    ids, count = dispatch.input("ids"), dispatch.input("ids_length")
    tables, lengths = LAYOUT.bind(dispatch)
    offsets, flags = tables["token_offsets"], tables["token_flags"]
    token_count = lengths["token_offsets"] - 1
    skip_special = dispatch.input("skip_special") != 0
    kernel.declare("written", 0)

    def per_token(index: Scalar) -> None:
        token = kernel.load(ids, index)
        valid = (token >= 0) & (token < token_count)
        safe = kernel.select(valid, token, 0)
        skipped = skip_special & ((kernel.load(flags, safe) & TOKEN_FLAG_SPECIAL) != 0)
        start = kernel.load(offsets, safe)
        length = kernel.select(valid & ~skipped, kernel.load(offsets, safe + 1) - start, 0)
        if write:
            data = tables["token_data"]
            kernel.for_range(0, length, lambda part: kernel.store(
                "bytes", kernel["written"] + part, kernel.load(data, start + part)))
        kernel["written"] = kernel["written"] + length

    kernel.for_range(0, count, per_token)
    if not write:
        kernel.store("total", 0, kernel["written"])


def module_mlir() -> str:
    """The complete MLIR module (the same text for every byte-level BPE vocabulary)."""
    lines = [f"// Byte-level BPE tokenizer, table format {FORMAT_VERSION}; generated by tokenizer_model.bytelevel_module.",
             f"module @{MODULE_NAME} {{"]
    lines += ["  " + line for line in arena_globals(LAYOUT)]
    lines += ["  " + line for line in _encode_function()]
    lines += ["  " + line for line in two_pass_decode_function(LAYOUT, _decode_pass, skip_special_argument=True)]
    lines.append("}")
    return "\n".join(lines) + "\n"
