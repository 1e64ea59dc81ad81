"""Runs pytest on the test files named on the command line; the entry point of `py_pytest_test`.

Bazel's test sharding and XML output variables are honoured, so a pytest suite behaves like any
other Bazel test.
"""

import os
import sys

import pytest


def main(argv: list[str]) -> int:
    args = ["-p", "no:cacheprovider", "-q", "-rs"]
    xml_output = os.environ.get("XML_OUTPUT_FILE")
    if xml_output:
        args += ["--junitxml", xml_output]
    args += argv
    return pytest.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
