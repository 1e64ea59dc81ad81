"""artifacts.profile_dispatches on the tiny Llama bundle: symbols of a real system-library VMFB, the
mapping of perf report rows, and a real perf run that names the bundle's prefill dispatches."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from artifacts import profile_dispatches

VMFB = Path(os.environ["SYSTEM_LIBRARY_VMFB"])
BUNDLE = Path(os.environ["TINY_BUNDLE"])


def test_symbols_of_the_system_library_name_the_dispatches(tmp_path):
    table = profile_dispatches.system_library_symbols(VMFB, tmp_path)
    dispatches = [name for name in table.names if name.startswith("prefill_bs1$async_dispatch_")]
    assert dispatches, table.names
    assert any(name.startswith("decode_bs1$async_dispatch_") for name in table.names)
    assert list(table.addresses) == sorted(table.addresses)


def test_report_rows_are_mapped_to_the_function_containing_each_address():
    table = profile_dispatches.parse_nm(
        "0000000000001000 T first_dispatch\n0000000000002000 t second_dispatch\n0000000000000500 D data\n"
    )
    report = [
        "# comment line",
        "    40.00%  iree_dylib_abc_mem_.so (deleted)  [.] 0x0000000000001010",
        "    25.00%  iree_dylib_abc_mem_.so (deleted)  [.] 0x0000000000002fff",
        "    15.00%  iree_dylib_abc_mem_.so (deleted)  [.] 0x0000000000001800",
        "    20.00%  [kernel.kallsyms]                 [k] clear_page_erms",
    ]
    assert profile_dispatches.dispatch_shares(report, table) == {
        "first_dispatch": 55.0,
        "second_dispatch": 25.0,
        "(outside the dispatches) [kernel.kallsyms]": 20.0,
    }


def test_a_vmfb_without_a_system_library_is_refused_with_the_fix(tmp_path):
    not_a_vmfb = tmp_path / "model.vmfb"
    not_a_vmfb.write_bytes(b"not a zip")
    with pytest.raises(profile_dispatches.ProfileError, match="not a VMFB archive"):
        profile_dispatches.system_library_symbols(not_a_vmfb, tmp_path)


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_perf_profile_of_prefill_names_prefill_dispatches():
    completed = subprocess.run(
        [sys.executable, "-m", "artifacts.profile_dispatches", "--bundle", str(BUNDLE), "--vmfb", str(VMFB),
         "--phase", "prefill", "--prompt-length", "32", "--seconds", "2", "--top", "50"],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("prefill of 32 tokens:"), completed.stdout
    rows = [line.split(None, 1) for line in lines[1:]]
    shares = {name: float(share.rstrip("%")) for share, name in rows}
    assert any(name.startswith("prefill_bs1$async_dispatch_") for name in shares), completed.stdout
    values = [float(share.rstrip("%")) for share, _ in rows]
    assert values == sorted(values, reverse=True), completed.stdout
    assert all(0 < value <= 100 for value in values), completed.stdout
