"""The SentencePiece BPE tokenizer (Llama-2 style) as one MLIR module compiled by IREE.

`encode(text: tensor<?xi8>, continuation: i32) -> tensor<?xi32>` follows `sentencepiece` 0.2:

1. normalization with the identity rule: malformed UTF-8 becomes U+FFFD, optional removal of
   leading, repeated and trailing spaces, the dummy prefix `▁` (not for a `continuation`
   chunk), and spaces escaped as `▁`;
2. symbols: user-defined pieces matched whole (longest first; they never merge), otherwise one
   character each, looked up as a piece (reserved pieces first, as `PieceToId` does; a character
   that is no piece but occurs in one has an id past the vocabulary, so it can still merge);
3. merges: repeatedly the adjacent pair whose concatenation is a piece with the highest score
   (leftmost on ties), via ranks by descending score (`kernel_library.merge_symbols`); when no
   piece has a `▁` after another character (checked at build time), no merge can cross the
   left edge of a `▁` that follows another character, so the symbols are merged word by word
   there, which keeps the merge structures small;
4. output: a character that is not a piece becomes its UTF-8 bytes as `<0xXX>` pieces with byte
   fallback, else the unknown id (consecutive unknown characters give one unknown id).

`decode(ids: tensor<?xi32>, unused: i32) -> tensor<?xi8>` follows `DecodeIds`: control pieces
vanish, the unknown piece prints its surface (" ⁇ "), `▁` becomes a space and the first one of
the text is dropped (dummy prefix), and runs of byte pieces are decoded as UTF-8 with each
malformed byte replaced by U+FFFD.
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

ALGORITHM = "sentencepiece_bpe"
MODULE_NAME = "sentencepiece_bpe_tokenizer"
FORMAT_VERSION = 1

(CONFIG_VERSION, CONFIG_ADD_DUMMY_PREFIX, CONFIG_REMOVE_EXTRA_WHITESPACES, CONFIG_ESCAPE_WHITESPACES,
 CONFIG_BYTE_FALLBACK, CONFIG_UNKNOWN_ID, CONFIG_SPLIT_AT_SPACES) = range(7)
CONFIG_LENGTH = 7
TOKEN_FLAG_CONTROL, TOKEN_FLAG_UNKNOWN, TOKEN_FLAG_BYTE, TOKEN_FLAG_LEADING_SPACE = 1, 2, 4, 8
SPACE = 32
SPACE_SYMBOL = (0xE2, 0x96, 0x81)  # U+2581 "▁" in UTF-8

TABLES = (
    TableSpec("config", "i32"),
    TableSpec("char_keys", "i32"),
    TableSpec("char_ids", "i32"),
    TableSpec("user_data", "i8"),
    TableSpec("user_offsets", "i32"),
    TableSpec("user_ids", "i32"),
    TableSpec("user_first_byte", "i32"),
    TableSpec("merge_offsets", "i32"),
    TableSpec("merge_right", "i32"),
    TableSpec("merge_rank", "i32"),
    TableSpec("merge_result", "i32"),
    TableSpec("byte_pieces", "i32"),
    TableSpec("token_data", "i8"),
    TableSpec("token_offsets", "i32"),
    TableSpec("token_flags", "i8"),
)
LAYOUT = TableLayout(TABLES)
SCRATCH_AREAS = ("normalized", "symbols", "frozen", "symbol_start", "symbol_length", "following", "preceding",
                 "merged")


def _emit_encode(dispatch: DispatchBuilder) -> None:
    kernel = dispatch.kernel
    tables, lengths = LAYOUT.bind(dispatch)
    area = dispatch.input("ids_size")
    for index, name in enumerate(SCRATCH_AREAS):
        kernel.define_view(name, "scratch", area * index)
    text, text_length = dispatch.input("text"), dispatch.input("text_length")
    config = tables["config"]
    remove_extra = kernel.load(config, CONFIG_REMOVE_EXTRA_WHITESPACES) != 0
    escape = kernel.load(config, CONFIG_ESCAPE_WHITESPACES) != 0
    byte_fallback = kernel.load(config, CONFIG_BYTE_FALLBACK) != 0
    unknown_id = kernel.load(config, CONFIG_UNKNOWN_ID)
    dummy_prefix = (kernel.load(config, CONFIG_ADD_DUMMY_PREFIX) != 0) & (dispatch.input("continuation") == 0)

    # ----- 1. normalization into `normalized` -------------------------------------------------
    kernel.declare("normalized_length", 0)

    def append_byte(value: "Scalar | int") -> None:
        kernel.store("normalized", kernel["normalized_length"], value)
        kernel["normalized_length"] = kernel["normalized_length"] + 1

    def append_space() -> None:
        def escaped() -> None:
            for value in SPACE_SYMBOL:
                append_byte(value)

        kernel.if_then(escape, escaped, lambda: append_byte(SPACE))

    kernel.declare("read_position", 0)

    def skip_leading_space() -> None:
        kernel.declare("leading_going", text_length > 0)

        def step() -> None:
            is_space = kernel.load(text, kernel["read_position"]) == SPACE
            kernel["read_position"] = kernel.select(is_space, kernel["read_position"] + 1, kernel["read_position"])
            kernel["leading_going"] = is_space & (kernel["read_position"] < text_length)

        kernel.while_loop(lambda: kernel["leading_going"], step)

    kernel.if_then(remove_extra, skip_leading_space)

    def normalize() -> None:
        kernel.if_then(dummy_prefix, append_space)
        kernel.declare("previous_space", remove_extra)

        def character() -> None:
            codepoint, length = decode_utf8(kernel, text, kernel["read_position"], text_length)
            is_space = codepoint == SPACE
            dropped = kernel["previous_space"] & is_space

            def keep() -> None:
                def other() -> None:
                    size = utf8_length(kernel, codepoint)
                    kernel.for_range(0, size, lambda part: append_byte(utf8_byte(kernel, codepoint, size, part)))

                kernel.if_then(is_space, append_space, other)
                kernel["previous_space"] = is_space

            kernel.if_then(~dropped, keep)
            kernel["previous_space"] = kernel["previous_space"] & remove_extra
            kernel["read_position"] = kernel["read_position"] + length

        kernel.while_loop(lambda: kernel["read_position"] < text_length, character)

        def strip_trailing() -> None:
            width = kernel.select(escape, 3, 1)

            def ends_with_space() -> Scalar:
                end = kernel["normalized_length"]
                start = kernel.maximum(end - width, 0)
                last = kernel.load("normalized", kernel.maximum(end - 1, 0))
                escaped_end = kernel.logical_and(
                    end >= 3, kernel.load("normalized", start) == SPACE_SYMBOL[0],
                    kernel.load("normalized", kernel.maximum(end - 2, 0)) == SPACE_SYMBOL[1], last == SPACE_SYMBOL[2])
                return kernel.select(escape, escaped_end, (end >= 1) & (last == SPACE))

            kernel.while_loop(ends_with_space, lambda: kernel.__setitem__(
                "normalized_length", kernel["normalized_length"] - width))

        kernel.if_then(remove_extra, strip_trailing)

    kernel.if_then(kernel["read_position"] < text_length, normalize)
    normalized_length = kernel["normalized_length"]

    # ----- 2. symbols -------------------------------------------------------------------------
    users = StringTable(tables["user_data"], tables["user_offsets"], tables["user_ids"], tables["user_first_byte"])
    kernel.declare("symbol_count", 0)
    kernel.declare("symbol_position", 0)

    def next_symbol() -> None:
        position = kernel["symbol_position"]
        user_id, user_length = match_longest(kernel, users, "normalized", position, normalized_length, "user")
        codepoint, length = decode_utf8(kernel, "normalized", position, normalized_length)
        kernel.declare("symbol_id", user_id)

        def character() -> None:
            found, index = sorted_lookup(kernel, tables["char_keys"], lengths["char_keys"], codepoint, "char")
            kernel["symbol_id"] = kernel.select(found, kernel.load(tables["char_ids"], index), -1)

        is_user = user_id >= 0
        kernel.if_then(~is_user, character)
        index = kernel["symbol_count"]
        size = kernel.select(is_user, user_length, length)
        kernel.store("symbols", index, kernel["symbol_id"])
        kernel.store("frozen", index, kernel.select(is_user, 1, 0))
        kernel.store("symbol_start", index, position)
        kernel.store("symbol_length", index, size)
        kernel["symbol_count"] = index + 1
        kernel["symbol_position"] = position + size

    kernel.while_loop(lambda: kernel["symbol_position"] < normalized_length, next_symbol)

    # ----- 3. merges and 4. output ------------------------------------------------------------
    pairs = PairTable(tables["merge_offsets"], lengths["merge_offsets"], tables["merge_right"],
                      tables["merge_rank"], tables["merge_result"])
    scratch = MergeScratch("symbols", "following", "preceding", "merged", "tree", frozen="frozen")
    kernel.declare("token_count", 0)
    kernel.declare("previous_unknown", False)

    def emit(token: "Scalar | int") -> None:
        kernel.store("ids", kernel["token_count"], token)
        kernel["token_count"] = kernel["token_count"] + 1

    token_count = lengths["token_offsets"] - 1

    def emit_symbol(position: Scalar) -> None:
        symbol = kernel.load("symbols", position)
        known = (symbol >= 0) & (symbol < token_count)  # characters that are no piece have ids past the vocabulary

        def unknown() -> None:
            def as_bytes() -> None:
                start = kernel.load("symbol_start", position)
                kernel.for_range(0, kernel.load("symbol_length", position), lambda part: emit(
                    kernel.load(tables["byte_pieces"], kernel.load("normalized", start + part))))

            def as_unknown() -> None:
                kernel.if_then(~kernel["previous_unknown"], lambda: emit(unknown_id))

            kernel.if_then(byte_fallback, as_bytes, as_unknown)

        kernel.if_then(known, lambda: emit(symbol), unknown)
        kernel["previous_unknown"] = ~known

    split_at_spaces = kernel.load(config, CONFIG_SPLIT_AT_SPACES) != 0
    symbol_count = kernel["symbol_count"]

    def starts_with_space(index: Scalar) -> Scalar:
        at = kernel.load("symbol_start", index)
        return kernel.logical_and(kernel.load("symbol_length", index) >= 3,
                                  *(kernel.load("normalized", at + k) == SPACE_SYMBOL[k] for k in range(3)))

    def word_boundary(index: Scalar) -> Scalar:
        previous = index - 1
        lone_space_before = starts_with_space(previous) & (kernel.load("symbol_length", previous) == 3)
        return starts_with_space(index) & ~lone_space_before

    kernel.declare("word_begin", 0)

    def next_word() -> None:
        kernel.declare("word_end", kernel["word_begin"] + 1)
        kernel.declare("word_going", split_at_spaces & (kernel["word_end"] < symbol_count))

        def extend() -> None:
            at_boundary = word_boundary(kernel["word_end"])
            kernel["word_end"] = kernel.select(at_boundary, kernel["word_end"], kernel["word_end"] + 1)
            kernel["word_going"] = ~at_boundary & (kernel["word_end"] < symbol_count)

        kernel.while_loop(lambda: kernel["word_going"], extend)
        kernel["word_end"] = kernel.select(split_at_spaces, kernel["word_end"], symbol_count)
        merge_symbols(kernel, pairs, scratch, kernel["word_end"] - kernel["word_begin"], emit_symbol,
                      start=kernel["word_begin"])
        kernel["word_begin"] = kernel["word_end"]

    kernel.while_loop(lambda: kernel["word_begin"] < symbol_count, next_word)
    kernel.store("count", 0, kernel["token_count"])


def _encode_function() -> list[str]:
    body = FunctionBody()
    body.tensor_argument("text", "i8")
    body.load_arenas(LAYOUT)
    body.index_scalar("continuation", "%continuation")
    # Bounds (n = input bytes): the normalized text has at most 3n + 3 bytes (a space or a
    # malformed byte becomes 3 bytes, plus the dummy prefix); there are at most as many symbols
    # and ids. Each scratch area is 4n + 8 long; the merge tree has 2 * 2^k < 4 * (3n + 3) entries.
    area_size = body.affine_size("area_size", "%text_length", 4, 8)
    scratch_size = body.affine_size("scratch_size", "%text_length", 4 * len(SCRATCH_AREAS), 8 * len(SCRATCH_AREAS))
    tree_size = body.affine_size("tree_size", "%text_length", 12, 16)
    outputs = [DispatchOutput("ids", "i32", area_size), DispatchOutput("count", "i32", "%one"),
               DispatchOutput("scratch", "i32", scratch_size), DispatchOutput("tree", "i64", tree_size)]
    dispatch = DispatchBuilder([DispatchOperand("continuation", None), DispatchOperand("text", "i8")]
                               + LAYOUT.operands(), outputs)
    _emit_encode(dispatch)
    body.dispatch("%encoded", dispatch)
    count = body.read_count("token_total", "%encoded#1", "i32")
    body.keep_alive([("%encoded#2", "tensor<?xi32>"), ("%encoded#3", "tensor<?xi64>")])
    ids = body.slice_prefix("token_ids", "%encoded#0", "i32", count)
    return function("encode", "%text: tensor<?xi8>, %continuation: i32", "tensor<?xi32>", body,
                    f"{ids} : tensor<?xi32>")


def _decode_pass(dispatch: DispatchBuilder, write: bool) -> None:
    """Measures (write=False) or writes (write=True) the decoded bytes of `ids`."""
    kernel = dispatch.kernel
    tables, _ = LAYOUT.bind(dispatch)
    ids, count = dispatch.input("ids"), dispatch.input("ids_length")
    offsets, flags, data = tables["token_offsets"], tables["token_flags"], tables["token_data"]
    config = tables["config"]
    strips_prefix = (kernel.load(config, CONFIG_ADD_DUMMY_PREFIX) != 0) | (
        kernel.load(config, CONFIG_REMOVE_EXTRA_WHITESPACES) != 0)
    remove_extra = kernel.load(config, CONFIG_REMOVE_EXTRA_WHITESPACES) != 0
    kernel.declare("written", 0)
    kernel.declare("index", 0)
    kernel.declare("at_start", True)  # sentencepiece's is_bos_ws
    kernel.declare("start_space_seen", False)  # sentencepiece's bos_ws_seen

    def put(value: "Scalar | int") -> None:
        if write:
            kernel.store("bytes", kernel["written"], value)
        kernel["written"] = kernel["written"] + 1

    def token_flags(position: Scalar) -> Scalar:
        return kernel.load(flags, kernel.load(ids, position))

    def byte_value(position: Scalar) -> Scalar:
        return kernel.load(data, kernel.load(offsets, kernel.load(ids, position)))

    def byte_run() -> None:
        kernel.declare("run_end", kernel["index"])
        kernel.declare("run_going", True)

        def extend() -> None:
            kernel["run_end"] = kernel["run_end"] + 1
            kernel["run_going"] = (kernel["run_end"] < count) & (
                (token_flags(kernel.minimum(kernel["run_end"], count - 1)) & TOKEN_FLAG_BYTE) != 0)

        kernel.while_loop(lambda: kernel["run_going"], extend)
        run_end = kernel["run_end"]

        def character() -> None:
            position = kernel["index"]
            first = byte_value(position)
            codepoint, length = decode_utf8(kernel, data, position, run_end, byte_at=byte_value)
            valid = (first < 0x80) | (length > 1)

            def copy() -> None:
                kernel.for_range(0, length, lambda part: put(byte_value(position + part)))

            def replace() -> None:
                for value in (0xEF, 0xBF, 0xBD):
                    put(value)

            kernel.if_then(valid, copy, replace)
            kernel["index"] = position + length

        kernel.while_loop(lambda: kernel["index"] < run_end, character)

    def piece() -> None:
        token = kernel.load(ids, kernel["index"])
        token_flag = kernel.load(flags, token)
        kernel["at_start"] = kernel["at_start"] & ~kernel["start_space_seen"] & (kernel["written"] == 0)
        control = (token_flag & TOKEN_FLAG_CONTROL) != 0
        unknown = (token_flag & TOKEN_FLAG_UNKNOWN) != 0
        plain = ~control & ~unknown
        strip = kernel.logical_and(plain, kernel["at_start"], strips_prefix,
                                   (token_flag & TOKEN_FLAG_LEADING_SPACE) != 0)
        start = kernel.load(offsets, token)
        end = kernel.select(control, start, kernel.load(offsets, token + 1))
        begin = kernel.select(strip, start + 1, start)
        kernel.for_range(begin, end, lambda position: put(kernel.load(data, position)))
        kernel["start_space_seen"] = strip & ~remove_extra
        kernel["index"] = kernel["index"] + 1

    def next_token() -> None:
        is_byte = (token_flags(kernel["index"]) & TOKEN_FLAG_BYTE) != 0
        kernel.if_then(is_byte, byte_run, piece)

    kernel.while_loop(lambda: kernel["index"] < count, next_token)
    if not write:
        kernel.store("total", 0, kernel["written"])


def module_mlir() -> str:
    """The complete MLIR module (the same text for every SentencePiece BPE vocabulary)."""
    lines = [f"// SentencePiece BPE tokenizer, table format {FORMAT_VERSION}; generated by "
             "tokenizer_model.sentencepiece_module.", f"module @{MODULE_NAME} {{"]
    lines += ["  " + line for line in arena_globals(LAYOUT)]
    lines += ["  " + line for line in _encode_function()]
    lines += ["  " + line for line in two_pass_decode_function(LAYOUT, _decode_pass, skip_special_argument=False)]
    lines.append("}")
    return "\n".join(lines) + "\n"
