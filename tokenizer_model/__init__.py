"""The tensorized tokenizer: tokenization as IREE-compiled modules, exact against the references.

Data flow (`build.py`, the Bazel action): a tokenizer file (HF `tokenizer.json`, GGUF metadata,
SentencePiece `.model`) is read into tables (`extract_bytelevel.py`, `extract_sentencepiece.py`,
laid out by `tables.py`) and written as an IRPA file; the module's MLIR
(`bytelevel_module.py` or `sentencepiece_module.py`) is the same for every vocabulary of an
algorithm and is compiled by `iree-compile`. At run time `tokenizer.CompiledTokenizer` loads the
VMFB, hands it the tables once and calls `encode` / `decode`.

What runs in the compiled module: all of tokenization. Encoding: special-token matching,
UTF-8 decoding, NFC, the pre-tokenizer split (the regex implemented over character classes),
the byte-to-token and vocabulary look-ups, and the merge loop; SentencePiece's normalization,
symbol splitting, merges by score and byte fallback. Decoding: id to bytes, SentencePiece's
whitespace and byte-run rules. What runs on the host: `str` to UTF-8 and back, reading the IRPA
file, and cutting very long inputs at boundaries where that cannot change the result.

The kernels are sequential scalar code inside one IREE dispatch each (`scalar_kernel.py` emits
it; `kernel_library.py` holds the shared pieces: UTF-8, binary searches, leftmost-longest string
matching, and BPE merging with a segment tree over pair ranks). Character classes and NFC data
are measured from HF `tokenizers` itself (`unicode_data.py`, committed as `unicode_tables.json`).
"""
