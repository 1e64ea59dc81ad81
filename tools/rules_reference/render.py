"""Markdown from the ModuleInfo of public .bzl files (tools.rules_reference.textproto dicts): the
full reference (docs/rules.md) and the README's summary table of rules."""

from __future__ import annotations

import dataclasses
import re

REPOSITORY = "@rules_iree_llm"
_TYPES = {
    "NAME": "name", "INT": "int", "LABEL": "label", "STRING": "string", "STRING_LIST": "list of strings",
    "INT_LIST": "list of ints", "LABEL_LIST": "list of labels", "BOOLEAN": "bool",
    "LABEL_STRING_DICT": "dict: label -> string", "STRING_DICT": "dict: string -> string",
    "STRING_LIST_DICT": "dict: string -> list of strings", "OUTPUT": "output", "OUTPUT_LIST": "list of outputs",
}


@dataclasses.dataclass(frozen=True)
class Module:
    """One public .bzl file: its load path (`//export:defs.bzl`) and its parsed ModuleInfo."""

    load_path: str
    info: dict


def _one(message: dict, field: str, default=""):
    values = message.get(field)
    return values[0] if values else default


def _cell(text: str) -> str:
    """Text for one Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _summary(doc: str) -> str:
    """The first sentence of a docstring (up to the first period and space, within the first paragraph)."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    found = re.search(r"(?<=\.)\s", paragraph)
    return paragraph[:found.start()] if found else paragraph


def _attribute_table(attributes: list[dict]) -> list[str]:
    lines = ["| attribute | type | default | description |", "| --- | --- | --- | --- |"]
    for attribute in attributes:
        default = "mandatory" if _one(attribute, "mandatory", False) else _one(attribute, "default_value")
        lines.append("| `{}` | {} | {} | {} |".format(
            _one(attribute, "name"), _TYPES.get(_one(attribute, "type"), _one(attribute, "type").lower()),
            f"`{_cell(default)}`" if default and default != "mandatory" else default or "",
            _cell(_one(attribute, "doc_string"))))
    return lines


def _rule_section(module: Module, rule: dict, kind: str = "rule") -> list[str]:
    name = _one(rule, "rule_name")
    attributes = rule.get("attribute", [])
    call = ", ".join(_one(a, "name") for a in attributes)
    lines = [f"### `{name}`", "", "```starlark", f'load("{REPOSITORY}{module.load_path}", "{name}")', "",
             f"{name}({call})", "```", ""]
    if kind != "rule":
        lines[-1:] = ["", f"A {kind}.", ""]
    lines += [_one(rule, "doc_string").strip(), ""] + _attribute_table(attributes) + [""]
    return lines


def _provider_section(module: Module, provider: dict) -> list[str]:
    name = _one(provider, "provider_name")
    lines = [f"### `{name}`", "", f'A provider: `load("{REPOSITORY}{module.load_path}", "{name}")`.', "",
             _one(provider, "doc_string").strip(), "", "| field | description |", "| --- | --- |"]
    lines += [f"| `{_one(f, 'name')}` | {_cell(_one(f, 'doc_string'))} |" for f in provider.get("field_info", [])]
    return lines + [""]


def _extension_section(module: Module, extension: dict) -> list[str]:
    name = _one(extension, "extension_name")
    lines = [f"### `{name}`", "", "A module extension:", "", "```starlark",
             f'{name} = use_extension("{REPOSITORY}{module.load_path}", "{name}")', "```", "",
             _one(extension, "doc_string").strip(), ""]
    for tag in extension.get("tag_class", []):
        tag_name = _one(tag, "tag_name")
        lines += [f"#### `{name}.{tag_name}`", "", _one(tag, "doc_string").strip(), ""]
        lines += _attribute_table(tag.get("attribute", [])) + [""]
    return lines


def reference(modules: list[Module]) -> str:
    """docs/rules.md: every rule, provider and module extension of `modules`, in their order."""
    lines = ["# Rules reference", "",
             "Generated from the docstrings of the public `.bzl` files by `bazel run "
             "//tools/rules_reference:update`; do not edit by hand (`//tools/rules_reference:up_to_date_test` "
             "fails when this file and the `.bzl` files disagree).", ""]
    for module in modules:
        info = module.info
        lines += [f"## `{module.load_path}`", "", _one(info, "module_docstring").strip(), ""]
        for rule in info.get("rule_info", []):
            lines += _rule_section(module, rule)
        for provider in info.get("provider_info", []):
            lines += _provider_section(module, provider)
        for extension in info.get("module_extension_info", []):
            lines += _extension_section(module, extension)
        for rule in info.get("repository_rule_info", []):
            lines += _rule_section(module, rule, kind="repository rule")
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"


def summary_table(modules: list[Module]) -> str:
    """The README's table: each rule, where to load it from, and the first sentence of its doc."""
    lines = ["| rule | load from | what it does |", "| --- | --- | --- |"]
    for module in modules:
        for rule in module.info.get("rule_info", []):
            name = _one(rule, "rule_name")
            anchor = name.lower()
            lines.append(f"| [`{name}`](docs/rules.md#{anchor}) | `{module.load_path}` | "
                         f"{_cell(_summary(_one(rule, 'doc_string')))} |")
    return "\n".join(lines) + "\n"


BEGIN = "<!-- rules table: generated by `bazel run //tools/rules_reference:update` -->\n"
END = "<!-- end of the generated rules table -->\n"


def replace_summary(readme: str, table: str, readme_name: str = "README.md") -> str:
    """The README text with the part between BEGIN and END replaced by `table`."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{readme_name}: the markers of the generated rules table are missing; "
                         f"put the two lines\n{BEGIN}{END}where the table belongs")
    return readme[:start + len(BEGIN)] + table + readme[end:]
