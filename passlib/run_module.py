"""Child-process entry point: runs one function of a compiled module on saved inputs.

Generated code can crash IREE or hang, so passlib never runs it in its own process: it starts
`python -m passlib.run_module --vmfb M --function F --inputs in.npz --trials N --output out.npz`
with a timeout. Inputs are named `t<trial>_a<index>`; results are written as `t<trial>_r<index>`.
Only numpy and iree.runtime are used (through the local-sync driver, the path measured to work with
IREE 3.8: all arguments are arrays, 0-d arrays kept 0-d).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def run(vmfb: str, function: str, inputs_path: str, trials: int, output_path: str) -> None:
    """Calls `function` once per trial and saves every result array."""
    import iree.runtime as iree_runtime

    config = iree_runtime.Config("local-sync")
    context = iree_runtime.SystemContext(config=config)
    # VmModule.mmap opens the file for writing, which fails on read-only files; read it instead.
    with open(vmfb, "rb") as file:
        module = iree_runtime.VmModule.copy_buffer(config.vm_instance, file.read())
    context.add_vm_module(module)
    entry = context.modules[module.name][function]
    results: dict[str, np.ndarray] = {}
    with np.load(inputs_path) as saved:
        for trial in range(trials):
            arguments = []
            index = 0
            while f"t{trial}_a{index}" in saved:
                arguments.append(np.asarray(saved[f"t{trial}_a{index}"], order="C"))
                index += 1
            outputs = entry(*arguments)
            if outputs is None:
                outputs = ()
            elif not isinstance(outputs, (tuple, list)):
                outputs = (outputs,)
            for position, output in enumerate(outputs):
                host = output.to_host() if hasattr(output, "to_host") else np.asarray(output)
                results[f"t{trial}_r{position}"] = np.asarray(host)
    temporary = output_path + ".partial"
    with open(temporary, "wb") as handle:
        np.savez(handle, **results)
    os.replace(temporary, output_path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vmfb", required=True, help="compiled module (llvm-cpu)")
    parser.add_argument("--function", required=True, help="exported function to call")
    parser.add_argument("--inputs", required=True, help=".npz with t<trial>_a<index> arrays")
    parser.add_argument("--trials", type=int, required=True, help="number of input sets")
    parser.add_argument("--output", required=True, help=".npz to write the results to")
    arguments = parser.parse_args(argv)
    run(arguments.vmfb, arguments.function, arguments.inputs, arguments.trials, arguments.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
