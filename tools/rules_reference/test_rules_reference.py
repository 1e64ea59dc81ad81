"""Tests of the rules reference generator: the text-format reader and the Markdown it renders."""

import pytest

from tools.rules_reference import render, textproto

MODULE_INFO = r'''
rule_info {
  rule_name: "iree_vmfb"
  doc_string: "Compiles one MLIR file. The second sentence.\n\nMore | text."
  attribute { name: "name" type: NAME mandatory: true doc_string: "A unique name." }
  attribute { name: "target" type: STRING mandatory: true doc_string: "The IREE target." }
  attribute { name: "flags" type: STRING_LIST default_value: "[]" doc_string: "Extra flags, \"quoted\"." }
  origin_key { name: "iree_vmfb" file: "//private:iree_vmfb.bzl" }
}
provider_info {
  provider_name: "IreeVmfbInfo"
  doc_string: "A compiled module."
  field_info { name: "vmfb" doc_string: "File: the module." }
}
module_docstring: "Public API."
file: "//toolchains:defs.bzl"
'''


def test_textproto_reads_nested_messages_strings_enums_and_booleans():
    info = textproto.parse(MODULE_INFO)
    rule = info["rule_info"][0]
    assert rule["rule_name"] == ["iree_vmfb"]
    assert [a["name"][0] for a in rule["attribute"]] == ["name", "target", "flags"]
    assert rule["attribute"][0]["type"] == ["NAME"] and rule["attribute"][0]["mandatory"] == [True]
    assert rule["attribute"][2]["doc_string"] == ['Extra flags, "quoted".']
    assert rule["doc_string"][0].endswith("\n\nMore | text.")
    assert info["file"] == ["//toolchains:defs.bzl"]


def test_textproto_decodes_utf8_escapes_and_joins_adjacent_strings():
    assert textproto.parse(r'a: "caf\303\251" b: "x" "y"') == {"a": ["café"], "b": ["xy"]}


@pytest.mark.parametrize("text", ['a { b: "x"', "a: ", 'a: "x" }', "a: @"])
def test_textproto_rejects_broken_text_with_a_reason(text):
    with pytest.raises(textproto.TextprotoError):
        textproto.parse(text)


def test_reference_lists_each_attribute_with_its_type_default_and_doc():
    module = render.Module("//toolchains:defs.bzl", textproto.parse(MODULE_INFO))
    text = render.reference([module])
    assert '## `//toolchains:defs.bzl`' in text
    assert 'load("@rules_iree_llm//toolchains:defs.bzl", "iree_vmfb")' in text
    assert "iree_vmfb(name, target, flags)" in text
    assert "| `target` | string | mandatory | The IREE target. |" in text
    assert '| `flags` | list of strings | `[]` | Extra flags, "quoted". |' in text
    assert "| `vmfb` | File: the module. |" in text


def test_summary_table_takes_the_first_sentence_and_escapes_pipes():
    module = render.Module("//toolchains:defs.bzl", textproto.parse(MODULE_INFO))
    table = render.summary_table([module])
    assert table.splitlines()[2] == (
        "| [`iree_vmfb`](docs/rules.md#iree_vmfb) | `//toolchains:defs.bzl` | Compiles one MLIR file. |")


def test_replace_summary_keeps_the_rest_of_the_readme_and_needs_the_markers():
    readme = "# Title\n" + render.BEGIN + "old table\n" + render.END + "after\n"
    assert render.replace_summary(readme, "new\n") == "# Title\n" + render.BEGIN + "new\n" + render.END + "after\n"
    with pytest.raises(ValueError, match="README.md: the markers"):
        render.replace_summary("# Title\n", "new\n")
