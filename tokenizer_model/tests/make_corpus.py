"""Writes the tokenizer test corpus, `corpus.jsonl`, deterministically and without network access.

    python -m tokenizer_model.tests.make_corpus [--output PATH]

Each line is `{"category": ..., "text": ...}`. The strings are generated from a fixed seed and
the templates below: English prose with contractions, Python / C++ / MLIR source, CJK, Arabic,
Hebrew, Devanagari, Thai, emoji sequences, combining marks in canonical and non-canonical order
(exercising NFC), runs of spaces / tabs / newlines, digits in many scripts, special tokens of
Qwen2 and SmolLM2 (whole, partial, adjacent), control characters and bytes missing from
SmolLM2's vocabulary, the empty string, and long strings (up to 40 kB, beyond the chunk sizes
the tests use).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

SEED = 20261121
DEFAULT_OUTPUT = Path(__file__).with_name("corpus.jsonl")

WORDS = (
    "the of and to in is was for that with as on by at from his her it this be are which or an had not "
    "but have were one all their they there been has when who will more no if out so said what up its "
    "about into than them can only other new some could time these two may then do first any my now such "
    "like our over man me even most made after also did many before must through back years where much "
    "your way well down should because each just those people how too little state good very make world "
    "still own see men work long get here between both life being under never day same another know while "
    "last might us great old year off come since against go came right used take three tokenizer compiler "
    "kernel tensor dispatch vocabulary merge rank byte Unicode normalization Bazel hermetic artifact"
).split()
NAMES = "Alice Bob Carol Dave Eve Mallory Trent Peggy Victor Walter Zoë José Ångström Øre".split()
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D",
                "'ſ", "n't", "’s", "'x"]
PUNCTUATION = list(".,;:!?") + ["...", " -- ", " - ", "—", "–", "(", ")", "\"", "'", "[", "]", "«", "»", "“", "”"]
CJK = ["中文分词测试", "我们今天去公园散步。", "机器学习模型的编译器", "東京都は日本の首都です。", "ひらがなとカタカナ",
       "コンパイラ最適化", "한국어 형태소 분석기", "안녕하세요, 세계!", "漢字かな交じり文", "繁體中文與簡體中文"]
OTHER_SCRIPTS = ["مرحبا بالعالم", "اللغة العربية جميلة", "שָׁלוֹם עוֹלָם", "עברית בלי ניקוד", "नमस्ते दुनिया",
                 "हिन्दी भाषा", "สวัสดีชาวโลก", "ภาษาไทย", "Привет, мир!", "Ελληνικά γράμματα", "Ἐν ἀρχῇ ἦν ὁ λόγος",
                 "Tiếng Việt có dấu", "ქართული ენა", "Հայերեն", "ᚠᚢᚦᚨᚱᚲ", "ꯃꯤꯇꯩ ꯂꯣꯟ"]
EMOJI = ["🙂", "😀", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🇫🇷", "🇯🇵", "❤️", "✌🏿", "🏳️‍🌈", "🤖", "🧑🏻‍🔬", "☕", "⚡️", "🫠",
         "🐍", "🦀", "#️⃣", "1️⃣"]
COMBINING = ["e\u0301", "a\u0308", "o\u0302\u0323", "o\u0323\u0302", "A\u030a", "\u212b", "\u2126", "\u0958",
             "\u1100\u1161\u11a8", "\u1100\u1161", "\uac00\u11a8", "n\u0303", "u\u0308\u0301", "\u0344",
             "q\u0307\u0323", "q\u0323\u0307", "\u0301", "a\u0301\u0301", "\u05e9\u05bc\u05c1", "\ufb2c",
             "\u1e9b\u0323", "\u0d4a", "\u0d46\u0d3e", "i\u0307", "\u0391\u0313\u0300\u0345",
             "x\u0335\u0301", "a\u1ac0\u0301", "\u0915\u093c", "\u0929", "\u2fb0"]
DIGITS = ["0", "7", "42", "1999", "2026", "12345", "3.14159", "1,000,000", "0x1F", "1e-9", "٣٤٥", "१२३",
          "１２３", "²", "½", "Ⅻ", "⑦", "𝟙𝟚", "๓", "٠١٢٣٤٥٦٧٨٩"]
SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\u00a0", "\u3000", "\u2009",
          " \t ", "\n\n\n", "\r", "\u2028", "\u0085", "\x0b", "\x0c"]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start", "im_end|>", "<|", "|>", "<repo_name>",
            "<file_sep>", "<think>", "</think>", "<tool_call>", "<|vision_start|>", "<|fim_prefix|>", "<empty_output>",
            "<jupyter_code>", "<|endoftext|><|endoftext|>"]
CONTROL = ["\x00", "\x01", "\x04", "\x06", "\x13", "\x14", "\x16", "\x1d", "\x7f", "\x80", "\x9f", "\u200b", "\u200d",
           "\ufeff", "\U00040000", "\U00080000", "\U000e0041", "\U000f0000", "\U0010ffff", "\ue000"]
PYTHON_TEMPLATES = [
    "def {name}({arg}: int, {arg2}: str = \"{word}\") -> list[int]:\n    \"\"\"{sentence}\"\"\"\n    return [{arg} * {num}]\n",
    "class {Name}({Name2}):\n    def __init__(self, {arg}):\n        self.{arg} = {arg}  # {word}\n",
    "for {arg} in range({num}):\n\tif {arg} % 2 == 0:\n\t\tprint(f\"{{{arg}}} is even\")\n",
    "import numpy as np\nfrom pathlib import Path\n\n{arg} = np.zeros(({num}, {num2}), dtype=np.float32)\n",
    "@dataclasses.dataclass(frozen=True)\nclass {Name}:\n    {arg}: int = {num}\n    {arg2}: str = '{word}'\n",
    "try:\n    {arg} = {{'{word}': {num}, \"{word2}\": [{num2}, {num}]}}\nexcept KeyError as error:\n    raise ValueError(error) from None\n",
    "    # {sentence}\n    {arg} = lambda x: x ** {num} if x > {num2} else -x\n",
]
CPP_TEMPLATES = [
    "#include <vector>\n#include \"{word}.h\"\n\ntemplate <typename T>\nstd::vector<T> {name}(const T& {arg}) {{\n  return {{{arg}, {arg}}};\n}}\n",
    "namespace {word} {{\nclass {Name} final : public {Name2} {{\n public:\n  explicit {Name}(int {arg}) : {arg}_({arg}) {{}}\n  int {arg}() const {{ return {arg}_; }}\n private:\n  int {arg}_ = {num};\n}};\n}}  // namespace {word}\n",
    "for (size_t i = 0; i < {arg}.size(); ++i) {{\n    {arg}[i] += {num} * ptr->{arg2}[i] >> 2;\n}}\n",
    "auto {name} = [&](auto&& {arg}) -> decltype(auto) {{ return std::forward<decltype({arg})>({arg}); }};\n",
    "static_assert(sizeof(std::uint{bits}_t) == {bytes}, \"{sentence}\");\n",
]
MLIR_TEMPLATES = [
    "func.func @{name}(%arg0: tensor<{num}x?xf32>, %arg1: index) -> tensor<?xf32> {{\n  %c0 = arith.constant 0 : index\n  %0 = tensor.dim %arg0, %c0 : tensor<{num}x?xf32>\n  return %0 : tensor<?xf32>\n}}\n",
    "%{num} = arith.addi %{num2}, %c1 : i32\n%{num3} = arith.muli %{num}, %{num} : i32\n",
    "#map = affine_map<(d0, d1) -> (d1, d0)>\n%r = linalg.generic {{indexing_maps = [#map], iterator_types = [\"parallel\", \"parallel\"]}} ins(%a : tensor<{num}x{num2}xf16>)\n",
    "scf.for %i = %c0 to %c{num} step %c1 iter_args(%acc = %init) -> (f32) {{\n  scf.yield %acc : f32\n}}\n",
    "util.global private @{name} = #flow.parameter.named<\"model\"::\"{word}.weight\"> : tensor<{num}x{num2}xbf16>\n",
    "  %{num} = \"stablehlo.dot_general\"(%arg0, %arg1) {{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1]>}} : (tensor<{num2}x{num}xf32>) -> tensor<?xf32>\n",
]


class CorpusGenerator:
    def __init__(self, seed: int = SEED) -> None:
        self.random = random.Random(seed)

    def choice(self, items):
        return items[self.random.randrange(len(items))]

    def words(self, count: int) -> str:
        return " ".join(self.choice(WORDS) for _ in range(count))

    def sentence(self) -> str:
        parts = [self.choice(NAMES)]
        for _ in range(self.random.randint(3, 14)):
            roll = self.random.random()
            if roll < 0.08:
                parts.append(self.choice(WORDS) + self.choice(CONTRACTIONS))
            elif roll < 0.14:
                parts.append(self.choice(PUNCTUATION))
            elif roll < 0.18:
                parts.append(str(self.random.randint(0, 10 ** self.random.randint(1, 6))))
            elif roll < 0.22:
                parts.append(self.choice(WORDS).upper())
            else:
                parts.append(self.choice(WORDS))
        return " ".join(parts) + self.choice([".", "!", "?", "", "...", ".\n"])

    def template(self, templates: list[str]) -> str:
        fields = {
            "name": "_".join(self.choice(WORDS) for _ in range(2)),
            "Name": self.choice(WORDS).capitalize() + self.choice(WORDS).capitalize(),
            "Name2": self.choice(WORDS).capitalize(),
            "arg": self.choice(WORDS), "arg2": self.choice(WORDS) + "_value",
            "word": self.choice(WORDS), "word2": self.choice(WORDS),
            "num": str(self.random.randint(0, 4096)), "num2": str(self.random.randint(0, 99)),
            "num3": str(self.random.randint(100, 999)), "sentence": self.sentence().strip(),
            "bits": self.choice(["8", "16", "32", "64"]), "bytes": self.choice(["1", "2", "4", "8"]),
        }
        return self.choice(templates).format(**fields)

    def mixture(self, pools: list[list[str]], count: int) -> str:
        return "".join(self.choice(self.choice(pools)) for _ in range(count))

    def random_unicode(self, length: int) -> str:
        characters = []
        for _ in range(length):
            roll = self.random.random()
            if roll < 0.5:
                codepoint = self.random.randint(0x20, 0x7E)
            elif roll < 0.8:
                codepoint = self.random.randint(0xA0, 0x2FFF)
            elif roll < 0.95:
                codepoint = self.random.randint(0x3000, 0xFFFD)
            else:
                codepoint = self.random.randint(0x10000, 0x10FFFF)
            if 0xD800 <= codepoint < 0xE000:
                codepoint = 0xFFFD
            characters.append(chr(codepoint))
        return "".join(characters)

    def generate(self) -> list[tuple[str, str]]:
        corpus: list[tuple[str, str]] = [("empty", "")]
        corpus += [("single", ch) for ch in " \t\n\r!aZ0é中🙂'\u0301\x00"]
        for _ in range(300):
            corpus.append(("prose", " ".join(self.sentence() for _ in range(self.random.randint(1, 4)))))
        for _ in range(80):
            corpus.append(("contractions", " ".join(
                self.choice(WORDS) + self.choice(CONTRACTIONS) + self.choice(["", " ", "  ", "\n"])
                for _ in range(self.random.randint(1, 8)))))
        for templates, category in ((PYTHON_TEMPLATES, "python"), (CPP_TEMPLATES, "cpp"), (MLIR_TEMPLATES, "mlir")):
            for _ in range(150):
                corpus.append((category, "".join(self.template(templates) for _ in range(self.random.randint(1, 3)))))
        for _ in range(120):
            corpus.append(("cjk", self.mixture([CJK, CJK, [" ", "，", "、", "1", "A"]], self.random.randint(1, 8))))
        for _ in range(120):
            corpus.append(("scripts", self.mixture([OTHER_SCRIPTS, [" ", ", ", "\n", "123"]], self.random.randint(1, 6))))
        for _ in range(100):
            corpus.append(("emoji", self.mixture([EMOJI, EMOJI, [" ", "", "a", "\n", "!"]], self.random.randint(1, 10))))
        for _ in range(150):
            corpus.append(("combining", self.mixture([COMBINING, COMBINING, [" ", "a", "e", "中", "\n"]],
                                                     self.random.randint(1, 10))))
        for _ in range(150):
            corpus.append(("whitespace", self.mixture([SPACES, SPACES, ["a", "word", "1", "!", "é", "中"]],
                                                      self.random.randint(1, 12))))
        for _ in range(120):
            corpus.append(("digits", self.mixture([DIGITS, DIGITS, [" ", "  ", "\t ", "x", "-", ".", "\n"]],
                                                  self.random.randint(1, 12))))
        for _ in range(150):
            corpus.append(("special", self.mixture([SPECIALS, SPECIALS, ["user\n", "assistant\n", " ", "hello", "\n",
                                                                         "<", ">", "|", "中"]],
                                                   self.random.randint(1, 12))))
        for _ in range(60):
            corpus.append(("chat", "".join(
                f"<|im_start|>{self.choice(['system', 'user', 'assistant'])}\n{self.sentence()}<|im_end|>\n"
                for _ in range(self.random.randint(1, 4)))))
        for _ in range(100):
            corpus.append(("control", self.mixture([CONTROL, CONTROL, ["a", " ", "!", "\n", "é"]],
                                                   self.random.randint(1, 10))))
        for _ in range(220):
            corpus.append(("random", self.random_unicode(self.random.randint(1, 60))))
        for _ in range(100):
            corpus.append(("mixed", self.mixture([WORDS, CJK, EMOJI, COMBINING, DIGITS, SPACES, SPECIALS, CONTROL,
                                                  OTHER_SCRIPTS, CONTRACTIONS, PUNCTUATION], self.random.randint(5, 40))))
        corpus += self.long_strings()
        return corpus

    def long_strings(self) -> list[tuple[str, str]]:
        long: list[tuple[str, str]] = []
        for size in (1000, 4096, 10000, 40000):
            text = ""
            while len(text.encode("utf-8")) < size:
                text += self.sentence() + self.choice(["\n", " ", "\n\n", "\t"])
            long.append(("long_prose", text))
            code = ""
            while len(code.encode("utf-8")) < size:
                code += self.template(self.choice([PYTHON_TEMPLATES, CPP_TEMPLATES, MLIR_TEMPLATES]))
            long.append(("long_code", code))
        long.append(("long_word", "a" * 5000))
        long.append(("long_word", "ab" * 3000 + "c"))
        long.append(("long_word", "中" * 3000))
        long.append(("long_spaces", " " * 4000 + "x" + "\n" * 3000 + "y" + "\t " * 2000))
        long.append(("long_digits", "".join(str(self.random.randint(0, 9)) for _ in range(5000))))
        long.append(("long_punctuation", "!?" * 2500 + "\n"))
        long.append(("long_random", self.random_unicode(8000)))
        long.append(("long_combining", "a" + "\u0301\u0323" * 1500))
        long.append(("long_special", "<|im_start|>" * 500 + "<|im_end" * 300))
        return long


def write_corpus(path: Path, corpus: list[tuple[str, str]]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for category, text in corpus:
                stream.write(json.dumps({"category": category, "text": text}, ensure_ascii=True) + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    corpus = CorpusGenerator().generate()
    write_corpus(args.output, corpus)
    print(f"wrote {len(corpus)} strings to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
