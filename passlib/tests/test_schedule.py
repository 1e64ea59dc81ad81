"""Tests of passlib.schedule: the allow-list against IREE's real pass registry, and answer parsing."""

from __future__ import annotations

import time

import pytest

from passlib import ir, schedule
from passlib.tests.samples import SCHEDULE_INPUT


@pytest.mark.parametrize("name", list(schedule.ALLOWED_PASSES))
def test_every_allowed_pass_runs_at_its_anchor(name):
    context = ir.new_context()
    module = ir.parse_module(SCHEDULE_INPUT, context)
    before = ir.count_ops(module)
    result = schedule.apply_pipeline(module, [name], schedule.ALLOWED_PASSES)
    assert result.module is not None, result.diagnostics
    assert ir.verify(result.module) == []
    assert ir.count_ops(module) == before, "the pipeline runs on a copy, never on the input"


def test_function_anchored_passes_are_nested():
    text = schedule.pipeline_text(
        ["cse", "iree-util-simplify-global-accesses", "affine-simplify-structures", "canonicalize"],
        schedule.ALLOWED_PASSES)
    assert text == ("builtin.module(cse,func.func(iree-util-simplify-global-accesses,"
                    "affine-simplify-structures),canonicalize)")


def test_json_answer_keeps_allowed_names_in_order():
    answer = 'Sure. ```json\n{"passes": ["inline", "-cse", "sccp", "inline", "canonicalize"]}\n```'
    choice = schedule.parse_answer(answer, schedule.ALLOWED_PASSES)
    assert choice.passes == ("inline", "cse", "inline", "canonicalize")
    assert choice.rejected == ("sccp",)


def test_free_text_answer_falls_back_to_whole_word_matches():
    answer = ("First run inline, then cse and canonicalize. Avoid iree-util-ipo-extra and "
              "my-canonicalize; finish with symbol-dce.")
    choice = schedule.parse_answer(answer, schedule.allowed_passes(["inline", "cse", "canonicalize",
                                                                    "symbol-dce", "iree-util-ipo"]))
    assert choice.passes == ("inline", "cse", "canonicalize", "symbol-dce")


def test_pipelines_are_capped():
    answer = '{"passes": [' + ", ".join(['"cse"'] * 40) + "]}"
    assert len(schedule.parse_answer(answer, schedule.ALLOWED_PASSES).passes) == schedule.MAX_PIPELINE_LENGTH


def test_unknown_names_in_the_allow_list_are_refused():
    with pytest.raises(ValueError, match="allow-list"):
        schedule.allowed_passes(["canonicalize", "iree-hal-serialize-executables"])


def test_schema_admits_only_allowed_names():
    schema = schedule.answer_schema(schedule.allowed_passes(["cse", "inline"]))
    assert schema["properties"]["passes"]["items"]["enum"] == ["cse", "inline"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("answer", [
    '{"a":' * 5000,                                  # nested deeper than the JSON decoder recurses
    '{"passes": [' * 100_000,                         # openings that never close
    '{"passes": ["cse", ' + '"x", ' * 200_000 + "]}",  # one object far longer than a pipeline
    "cse " * 1_000_000,                               # free text past the answer cap
])
def test_hostile_answers_parse_in_bounded_time(answer):
    started = time.monotonic()
    choice = schedule.parse_answer(answer, schedule.ALLOWED_PASSES)
    assert time.monotonic() - started < 5.0
    assert len(choice.passes) <= schedule.MAX_PIPELINE_LENGTH
    assert len(choice.rejected) <= schedule.MAX_PIPELINE_LENGTH


def test_a_later_passes_object_is_read_when_the_first_does_not_decode():
    answer = '{"passes": [oops]} then {"passes": ["inline", "cse"]}'
    assert schedule.parse_answer(answer, schedule.ALLOWED_PASSES).passes == ("inline", "cse")
