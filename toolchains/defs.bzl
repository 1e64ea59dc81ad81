"""Public API of the IREE toolchain: the toolchain rule, `iree_vmfb` and their providers.

The targets and their flags are in one place, `private/targets.bzl` (`IREE_TARGETS`).
"""

load("//private:iree_toolchain.bzl", _IreeToolchainInfo = "IreeToolchainInfo", _iree_toolchain = "iree_toolchain")
load("//private:iree_vmfb.bzl", _IreeVmfbInfo = "IreeVmfbInfo", _iree_vmfb = "iree_vmfb")

IreeToolchainInfo = _IreeToolchainInfo
IreeVmfbInfo = _IreeVmfbInfo
iree_toolchain = _iree_toolchain
iree_vmfb = _iree_vmfb
