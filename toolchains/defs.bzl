"""Public API of the IREE toolchain: the targets, the toolchain rule and `iree_vmfb`."""

load("//toolchains/private:iree_toolchain.bzl", _IREE_TOOLCHAIN_TYPE = "IREE_TOOLCHAIN_TYPE", _IreeToolchainInfo = "IreeToolchainInfo", _iree_toolchain = "iree_toolchain")
load("//toolchains/private:iree_vmfb.bzl", _IREE_COMPILE_EXEC_GROUP = "IREE_COMPILE_EXEC_GROUP", _IREE_COMPILE_EXEC_GROUPS = "IREE_COMPILE_EXEC_GROUPS", _IreeVmfbInfo = "IreeVmfbInfo", _compile_vmfb = "compile_vmfb", _iree_vmfb = "iree_vmfb", _packed_parameters = "packed_parameters")
load("//toolchains/private:targets.bzl", _IREE_TARGETS = "IREE_TARGETS", _check_export_flags = "check_export_flags", _iree_target = "iree_target")

IREE_COMPILE_EXEC_GROUP = _IREE_COMPILE_EXEC_GROUP
IREE_COMPILE_EXEC_GROUPS = _IREE_COMPILE_EXEC_GROUPS
IREE_TARGETS = _IREE_TARGETS
IREE_TOOLCHAIN_TYPE = _IREE_TOOLCHAIN_TYPE
IreeToolchainInfo = _IreeToolchainInfo
IreeVmfbInfo = _IreeVmfbInfo
check_export_flags = _check_export_flags
compile_vmfb = _compile_vmfb
iree_target = _iree_target
iree_toolchain = _iree_toolchain
iree_vmfb = _iree_vmfb
packed_parameters = _packed_parameters
