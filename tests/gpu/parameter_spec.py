"""Names, shapes and dtypes of the named parameters an exported MLIR module reads.

    python3 tests/gpu/parameter_spec.py MODEL.mlir > parameters.json

The device check regenerates weights too large to carry from this list (random_parameters.py), so
that the VMFB compiled from the same MLIR finds every parameter it reads, with its shape and dtype.
Standard library only: it runs before any Python dependency exists.
"""

import json
import re
import sys
from pathlib import Path

# util.global private @__auto.x = #flow.parameter.named<"model"::"x"> : tensor<49152x576xf16>
_PARAMETER_GLOBAL = re.compile(
    r'#(?:flow|stream)\.parameter\.named<"(?P<scope>[^"]+)"::"(?P<name>[^"]+)">\s*:\s*tensor<(?P<type>[^>]+)>'
)


def parameter_spec(mlir_text: str) -> list[dict]:
    """[{scope, name, shape, dtype}] of every named parameter global, in the module's order."""
    spec = []
    for match in _PARAMETER_GLOBAL.finditer(mlir_text):
        *dims, dtype = match.group("type").split("x")
        if not all(dim.isdigit() for dim in dims):
            raise ValueError(f"parameter {match.group('name')!r} has a dynamic shape: tensor<{match.group('type')}>")
        spec.append(
            {
                "scope": match.group("scope"),
                "name": match.group("name"),
                "shape": [int(dim) for dim in dims],
                "dtype": dtype,
            }
        )
    return spec


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: parameter_spec.py MODEL.mlir > parameters.json", file=sys.stderr)
        return 2
    spec = parameter_spec(Path(argv[0]).read_text())
    if not spec:
        print(f"{argv[0]}: no #flow.parameter.named globals; is this an exported model?", file=sys.stderr)
        return 1
    json.dump(spec, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
