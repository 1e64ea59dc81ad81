"""The committed Unicode tables are what the reference implementation does today."""

from __future__ import annotations

import unicodedata

from tokenizer_model import unicode_data


def test_committed_tables_equal_a_fresh_measurement_of_the_reference():
    committed = unicode_data.load()
    measured = unicode_data.measure_reference()
    assert committed.reference == measured.reference, "tokenizers changed: run python -m tokenizer_model.unicode_data"
    for field in ("letters", "numbers", "whitespace", "decompositions", "combining_classes", "compositions"):
        assert getattr(committed, field) == getattr(measured, field), field


def test_tables_differ_from_pythons_unicodedata_where_the_reference_does():
    """Why the tables are measured: Python 3.11's Unicode 14 is not what the reference uses."""
    tables = unicode_data.load()
    python_letters = {c for c in range(0x110000) if unicodedata.category(chr(c)).startswith("L")}
    assert 0x1C89 in tables.letters and 0x1C89 not in python_letters  # Unicode 16 letter
    assert unicodedata.combining("\u1ac0") and 0x1AC0 not in tables.combining_classes  # Unicode 13 mark
    flags = tables.flags()
    assert flags[ord("a")] == unicode_data.CodepointFlag.LETTER
    assert flags[0x301] == unicode_data.CodepointFlag.NONZERO_COMBINING_CLASS | unicode_data.CodepointFlag.COMPOSES_AS_SECOND
