"""The IREE target backends this module compiles for, each with its flags in one place.

A target name (`llvm-cpu`, `rocm`, `cuda`, ...) is what BUILD files write; everything a backend
needs, from iree-compile flags to the export options it depends on, lives in its entry here.
"""

def _target(backend, description, compile_flags, executable_format, device, tokenizer_target, export_flags = []):
    return struct(
        backend = backend,
        description = description,
        compile_flags = compile_flags,
        executable_format = executable_format,
        device = device,
        # The CPU target a bundle's tokenizer is compiled for: tokenization is host work (and its
        # scalar loops do not compile for the GPU targets in IREE 3.8). A named CPU target keeps its
        # CPU; a GPU bundle, shipped to hosts we do not know, gets the portable one.
        tokenizer_target = tokenizer_target,
        export_flags = export_flags,
    )

_LLVM_CPU = [
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
]

# On CPU, IREE 3.8 compiles the fused attention op (f16) to one generic loop nest: 81% of a 512-token
# prefill of SmolLM2 went there. Decomposed into matmul, softmax and matmul, the two matmuls take the
# data-tiled microkernel path (512-token prefill 2.3x faster). "grouped" is that decomposition with the
# query heads batched per key/value head, so K and V are not repeated per query head: SmolLM2 decode
# 62-80 -> 75-101 tok/s in six back-to-back pairs, greedy tokens unchanged. Its decode sums products
# over the cached pages instead of packing them for matmuls (1.73x faster decode steps after 1500
# tokens), its value cache stores [dim, position] per page and head so that sum reads contiguous
# memory (a further 21% after 1500 tokens), and its prefill computes the scores transposed
# (512-token prefill 1.43 -> 0.99 s) (docs/performance.md, sections 4, 6, 7 and 8).
_LLVM_CPU_EXPORT = ["--attention-kernel=grouped"]

IREE_TARGETS = {
    "llvm-cpu": _target(
        backend = "llvm-cpu",
        description = "CPU of the machine that compiles (fastest here, not portable to older CPUs)",
        compile_flags = _LLVM_CPU + ["--iree-llvmcpu-target-cpu=host"],
        executable_format = "embedded-elf-x86_64",
        device = "local-task",
        tokenizer_target = "llvm-cpu",
        export_flags = _LLVM_CPU_EXPORT,
    ),
    "llvm-cpu-generic": _target(
        backend = "llvm-cpu",
        description = "any x86-64 CPU (portable, slower)",
        compile_flags = _LLVM_CPU + [
            "--iree-llvmcpu-target-triple=x86_64-unknown-linux-gnu",
            "--iree-llvmcpu-target-cpu=generic",
        ],
        executable_format = "embedded-elf-x86_64",
        device = "local-task",
        tokenizer_target = "llvm-cpu-generic",
        export_flags = _LLVM_CPU_EXPORT,
    ),
    "llvm-cpu-znver4": _target(
        backend = "llvm-cpu",
        description = "AMD Zen 4 (AVX-512 with bf16 and VNNI), named so that builds are portable across such machines",
        compile_flags = _LLVM_CPU + [
            "--iree-llvmcpu-target-triple=x86_64-unknown-linux-gnu",
            "--iree-llvmcpu-target-cpu=znver4",
        ],
        executable_format = "embedded-elf-x86_64",
        device = "local-task",
        tokenizer_target = "llvm-cpu-znver4",
        export_flags = _LLVM_CPU_EXPORT,
    ),
    "rocm": _target(
        backend = "rocm",
        description = "AMD Instinct MI300 (gfx942) through HIP",
        compile_flags = [
            "--iree-hal-target-device=hip",
            "--iree-hip-target=gfx942",
        ],
        executable_format = "rocm-hsaco-fb",
        device = "hip",
        tokenizer_target = "llvm-cpu-generic",
    ),
    "cuda": _target(
        backend = "cuda",
        description = "NVIDIA Ampere and newer (sm_80)",
        compile_flags = [
            "--iree-hal-target-device=cuda",
            "--iree-cuda-target=sm_80",
        ],
        executable_format = "cuda-nvptx-fb",
        device = "cuda",
        tokenizer_target = "llvm-cpu-generic",
        # The default scaled-dot-product-attention lowering does not translate for CUDA in
        # IREE 3.8; the exporter decomposes attention for this target. Hopper (H100, H200) runs
        # this sm_80 PTX, JIT-compiled by the driver: iree-compile 3.8 knows no CUDA target past
        # sm_86 ("missing GPU target in #hal.executable.target" for sm_89, sm_90 and sm_90a;
        # docs/performance.md, section 10).
        export_flags = ["--attention-kernel=decomposed"],
    ),
}

def iree_target(name, what = "target"):
    """Returns the definition of the IREE target `name`, failing with the list of known names.

    Args:
      name: a key of IREE_TARGETS.
      what: how the caller's attribute is called, for the error message.

    Returns:
      The struct describing the target.
    """
    if name not in IREE_TARGETS:
        fail("unknown IREE {} '{}'; known targets: {}".format(
            what,
            name,
            ", ".join(sorted(IREE_TARGETS.keys())),
        ))
    return IREE_TARGETS[name]

# Export options that write llvm-cpu dispatches by hand (export/block_quantized_matvec.py: vector
# code for the CPU); the GPU backends cannot compile what they add to the module.
LLVM_CPU_ONLY_EXPORT_FLAGS = ["--block-quantized-decode"]

def check_export_flags(name, export_flags):
    """Fails when `export_flags` hold an option that the IREE target `name` cannot compile.

    Args:
      name: a key of IREE_TARGETS.
      export_flags: the exporter flags a BUILD file gives for that target.
    """
    backend = iree_target(name).backend
    for flag in export_flags:
        if flag in LLVM_CPU_ONLY_EXPORT_FLAGS and backend != "llvm-cpu":
            fail("export flag {} writes llvm-cpu dispatches, but target '{}' compiles for {}; drop it from export_flags for this target.".format(
                flag,
                name,
                backend,
            ))
