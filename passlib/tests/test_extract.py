"""Tests of passlib.extract on answers shaped like real LLM output; results are parsed by MLIR."""

from __future__ import annotations

import time

import pytest

from passlib import extract, ir

REWRITTEN = """func.func @twice(%arg0: i32) -> i32 {
  %0 = arith.addi %arg0, %arg0 : i32
  return %0 : i32
}"""


@pytest.fixture
def context():
    return ir.new_context()


def _parses(text: str, context) -> bool:
    try:
        ir.parse_module(text, context)
    except ir.IrError:
        return False
    return True


def test_fenced_block_amid_prose(context):
    answer = (
        "Sure! Multiplying by 2 is the same as adding the value to itself, which is cheaper.\n\n"
        f"```mlir\n{REWRITTEN}\n```\n\n"
        "This keeps the signature `(i32) -> i32` and { braces } in prose do not matter."
    )
    found = extract.extract_mlir(answer, "twice")
    assert found.method == extract.FENCED
    assert found.mlir == REWRITTEN + "\n"
    assert _parses(found.mlir, context)


def test_last_block_defining_the_function_wins():
    original = REWRITTEN.replace("arith.addi %arg0, %arg0", "arith.muli %arg0, %arg0")
    answer = (
        f"The original function:\n```mlir\n{original}\n```\n"
        f"The optimized version:\n```\nmodule {{\n{REWRITTEN}\n}}\n```\n"
        "And a usage example:\n```python\nprint('func.func')\n```\n"
    )
    found = extract.extract_mlir(answer, "twice")
    assert found.method == extract.FENCED
    assert "arith.addi" in found.mlir and found.mlir.startswith("module {")


def test_bare_function_with_braces_in_strings_and_comments(context):
    answer = (
        "Here is the result: func.func @twice(%arg0: i32) -> i32 attributes {note = \"}{\"} {\n"
        "  // a comment with a stray }\n"
        "  %0 = arith.addi %arg0, %arg0 : i32\n"
        "  return %0 : i32\n"
        "}\n"
        "I replaced the multiplication with an addition."
    )
    found = extract.extract_mlir(answer, "twice")
    assert found.method == extract.BARE
    assert found.mlir.endswith("return %0 : i32\n}\n")
    assert _parses(found.mlir, context)


def test_bare_helper_and_target_are_kept_together(context):
    answer = (
        "func.func private @helper(%arg0: i32) -> i32 {\n  return %arg0 : i32\n}\n"
        "func.func @twice(%arg0: i32) -> i32 {\n"
        "  %0 = call @helper(%arg0) : (i32) -> i32\n  return %0 : i32\n}\n"
        "Both functions are needed."
    )
    found = extract.extract_mlir(answer, "twice")
    assert "@helper" in found.mlir and "@twice" in found.mlir
    assert _parses(found.mlir, context)


def test_generic_form_is_extracted_whole(context):
    generic = (
        '"func.func"() <{function_type = (i32) -> i32, sym_name = "twice"}> ({\n'
        "^bb0(%arg0: i32):\n"
        '  %0 = "arith.addi"(%arg0, %arg0) <{overflowFlags = #arith.overflow<none>}> : (i32, i32) -> i32\n'
        '  "func.return"(%0) : (i32) -> ()\n'
        "}) : () -> ()"
    )
    found = extract.extract_mlir(f"Generic form:\n{generic}\nDone.", "twice")
    assert found.mlir == generic + "\n"
    assert _parses(found.mlir, context)


def test_truncated_answer_is_recognised():
    answer = "```mlir\nfunc.func @twice(%arg0: i32) -> i32 {\n  %0 = arith.addi %arg0, %arg0 : i32\n  ret"
    found = extract.extract_mlir(answer, "twice")
    assert found.mlir is None
    assert found.method == extract.TRUNCATED
    assert "cut off" in found.problem


def test_unclosed_fence_with_complete_function_is_kept(context):
    found = extract.extract_mlir(f"```mlir\n{REWRITTEN}\n", "twice")
    assert found.method == extract.FENCED
    assert _parses(found.mlir, context)


def test_closed_block_with_unbalanced_braces_goes_to_the_parser(context):
    broken = "func.func @twice(%arg0: i32) -> i32 {\n  return %arg0 : i32\n"
    found = extract.extract_mlir(f"```mlir\n{broken}```", "twice")
    assert found.mlir == broken
    with pytest.raises(ir.IrError) as error:
        ir.parse_module(found.mlir, context)
    assert error.value.stage == ir.PARSE_STAGE


def test_answer_without_mlir():
    found = extract.extract_mlir("I'm sorry, I can't optimize this function any further.", "twice")
    assert found.mlir is None
    assert found.method == extract.NOT_FOUND


# Answers of about a megabyte built to make a backtracking regex or a rescanning loop take quadratic
# time; extraction must stay linear. The bound is generous (a loaded CI machine), a quadratic scan of
# a megabyte takes hours.
ADVERSARIAL_SIZE = 1_000_000
ADVERSARIAL_SECONDS = 5.0
ADVERSARIAL_ANSWERS = {
    "fence_then_blanks": "```" + " " * ADVERSARIAL_SIZE + "`",
    "fence_then_tabs_in_block": "```mlir\nfunc.func @twice() {\n" + "```" + "\t" * ADVERSARIAL_SIZE + "x\n",
    "many_fences": "```\nfunc.func @twice\n" * (ADVERSARIAL_SIZE // 21),
    "func_words_without_at": "```mlir\n" + "func.func " * (ADVERSARIAL_SIZE // 10) + "\n```",
    "module_words_without_brace": "module " * (ADVERSARIAL_SIZE // 7) + "\nfunc.func @twice() {\n}\n",
    "balanced_pairs_on_one_line": "func.func @twice() " + "{}" * (ADVERSARIAL_SIZE // 2),
    "open_brackets": "func.func @twice() " + "{(" * (ADVERSARIAL_SIZE // 2),
    "unterminated_string": 'func.func @twice() { "' + "\\\"" * (ADVERSARIAL_SIZE // 2),
    "comments": "func.func @twice() {\n" + "// }\n" * (ADVERSARIAL_SIZE // 5),
    "sym_names": '"func.func"() <{sym_name = ' + " " * ADVERSARIAL_SIZE + "}>",
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL_ANSWERS))
def test_adversarial_answers_are_read_in_linear_time(name):
    answer = ADVERSARIAL_ANSWERS[name]
    assert len(answer) <= extract.MAX_ANSWER_CHARS
    started = time.monotonic()
    found = extract.extract_mlir(answer, "twice")
    blocks = extract.fenced_blocks(answer)
    elapsed = time.monotonic() - started
    assert elapsed < ADVERSARIAL_SECONDS, f"{name}: {elapsed:.1f} s"
    assert found.method in (extract.FENCED, extract.BARE, extract.TRUNCATED, extract.NOT_FOUND)
    assert all(isinstance(block.text, str) for block in blocks)


def test_an_answer_over_the_cap_is_rejected_with_a_reason():
    answer = f"```mlir\n{REWRITTEN}\n```\n" + " " * extract.MAX_ANSWER_CHARS
    started = time.monotonic()
    found = extract.extract_mlir(answer, "twice")
    assert time.monotonic() - started < ADVERSARIAL_SECONDS
    assert found.mlir is None and found.method == extract.NOT_FOUND
    assert str(extract.MAX_ANSWER_CHARS) in found.problem


def test_fences_are_read_as_before():
    """The line scan keeps the fence rules: 3+ backticks or tildes, an info string without backticks,
    and a closing line of at least as many of the same character."""
    answer = ("  ~~~~ mlir  \nfunc.func @a() {\n  return\n}\n~~~\n~~~~~\t\n"
              "```` `x`\nnot a fence\n```mlir\nfunc.func @b() {\n}\n````\n```\nopen")
    blocks = extract.fenced_blocks(answer)
    assert blocks == [
        extract.FencedBlock("func.func @a() {\n  return\n}\n~~~\n", True),
        extract.FencedBlock("func.func @b() {\n}\n", True),
        extract.FencedBlock("open", False),
    ]
    assert extract.fenced_blocks("```") == [extract.FencedBlock("", False)]
    assert extract.fenced_blocks("```\n```") == [extract.FencedBlock("", True)]

