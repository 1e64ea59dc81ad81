"""The fine-tune chain as Bazel built it on a tiny model: training data -> llm_finetune ->
llm_artifacts -> llm_transform in every mode (finetune/BUILD.bazel)."""

from __future__ import annotations

import hashlib
import json
import pathlib

import gguf

from passlib import ir
from passlib.training_data import near_duplicates, records

HERE = pathlib.Path("finetune")
MODES = ("rewrite", "schedule", "search")


def test_training_data_is_verified_pairs_apart_from_the_evaluation_sets():
    pairs = records.read_pairs(HERE / "tiny_training_data.jsonl")
    assert pairs, "the tiny data set holds no pair"
    for pair in pairs:
        assert pair.cost_after < pair.cost_before, pair.name
    index = near_duplicates.EvaluationIndex.from_task_sets(
        [pathlib.Path("passlib/eval_tasks"), pathlib.Path("passlib/eval_tasks_hard")])
    assert near_duplicates.check_disjoint([pair.module for pair in pairs], index) == []


def test_finetuned_checkpoint_records_its_data_and_merged_matrices():
    reader = gguf.GGUFReader(str(HERE / "tiny_finetune.gguf"))
    data_digest = hashlib.sha256((HERE / "tiny_training_data.jsonl").read_bytes()).hexdigest()
    assert reader.fields["rules_iree_llm.finetune.data_sha256"].contents() == data_digest
    settings = json.loads(reader.fields["rules_iree_llm.finetune.settings"].contents())
    assert (settings["steps"], settings["rank"]) == (4, 4)
    matrix_types = {tensor.tensor_type.name for tensor in reader.tensors if tensor.name.startswith("blk.")
                    and not tensor.name.endswith("norm.weight")}
    assert matrix_types == {"Q8_0"}  # every projection got an adapter, merged as Q8_0


def test_transform_with_the_finetuned_bundle_in_every_mode():
    source = (HERE / "tests/testdata/redundant.mlir").read_text()
    with ir.new_context() as context:
        ops_before = ir.count_ops(ir.parse_module(source, context))
        for mode in MODES:
            output = (HERE / f"tiny_finetuned_{mode}.mlir").read_text()
            module = ir.parse_module(output, context, f"tiny_finetuned_{mode}.mlir")
            assert not ir.verify(module)
            assert ir.count_ops(module) < ops_before, mode  # at least the search's floor
            report = json.loads((HERE / f"tiny_finetuned_{mode}.report.json").read_text())
            assert report["mode"] == mode
            if mode != "search":
                assert report["backend"]["kind"] == "iree", report["backend"]
                attempts = [attempt for unit in report["units"] for attempt in unit.get("attempts", [])]
                assert attempts, f"{mode}: the fine-tuned model was never asked"
