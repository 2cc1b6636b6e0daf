"""The CUDA kernels compiled into stylegan_fast._C (csrc/cuda): ``stylegan-fast kernels --compile sm_80,sm_90``
lists every kernel of the sources for both targets, with registers, and none spills.

Builds nothing: it reads the installed module. CI builds the package with nvcc, so there it runs; with a
module built without CUDA the listing checks skip (the CLI then says so in one line, checked below).
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stylegan_fast import _native
from stylegan_fast import kernels as K

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("sm_80", "sm_90")
needs_cuda_module = pytest.mark.skipif(not _native.cuda_compiled(),
                                       reason="stylegan_fast._C was built without CUDA (no nvcc at install time)")
_GLOBAL = re.compile(r"__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(")


def source_kernels() -> set:
    """The __global__ functions of csrc/cuda/*.cu."""
    return {name for path in (ROOT / "csrc" / "cuda").glob("*.cu") for name in _GLOBAL.findall(path.read_text())}


def test_the_sources_declare_the_kernels():
    assert {"noise_bias_act_kernel", "styled_epilogue_kernel", "scale_planes_kernel", "demodulation_kernel",
            "upfirdn2d_kernel", "upfirdn2d_up2_kernel", "upfirdn2d_4x4_kernel", "upfirdn2d_3x3_kernel",
            "torgb_skip_kernel", "adain_stats_kernel", "adain_finalize_kernel", "adain_apply_kernel",
            "noise_stream_kernel"} <= source_kernels()


def test_kernel_names_and_configs_from_symbols():
    mangled = ("_ZN13stylegan_fast4cuda40_GLOBAL__N__e61328dd_8_adain_cu_37460f3e18adain_apply_kernelI13__nv_bfloat16E"
               "EvPKT_NS0_8Strides4EPS4_S7_lNS0_4WalkENS1_5ApplyE")
    readable = ("void stylegan_fast::cuda::(anonymous namespace)::torgb_skip_kernel<__half, float, true>"
                "(stylegan_fast::cuda::(anonymous namespace)::Torgb<__half, float>)")
    assert K.cuda_kernel_and_config("_Zx", readable) == ("torgb_skip_kernel", "fp16, fp32, true")
    assert K.cuda_kernel_and_config("_Zy", "stylegan_fast::cuda::noop_kernel()") == ("noop_kernel", "")
    assert K.cuda_kernel_and_config(mangled, mangled) == ("adain_apply_kernel", "")  # no demangler: the name only
    if shutil.which("c++filt") or shutil.which("cu++filt"):
        readable = K.demangle([mangled])[mangled]
        assert "adain_apply_kernel<__nv_bfloat16>(" in readable, readable
        assert K.cuda_kernel_and_config(mangled, readable) == ("adain_apply_kernel", "bf16")


@needs_cuda_module
def test_cli_lists_every_cuda_kernel_for_sm80_and_sm90_without_spills(tmp_path):
    out = tmp_path / "cuda_kernels.json"
    r = subprocess.run([sys.executable, "-m", "stylegan_fast", "kernels", "--compile", ",".join(TARGETS),
                        "--backend", "cuda", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    rows = json.loads(out.read_text())
    assert rows and {row["backend"] for row in rows} == {"cuda"}
    failures = [row for row in rows if "error" in row]
    assert not failures, failures
    for target in TARGETS:
        listed = {row["kernel"] for row in rows if row["target"] == target}
        missing = source_kernels() - listed
        assert not missing, f"{target}: kernels of csrc/cuda not in the module: {sorted(missing)}"
    spills = [f"{row['kernel']} [{row['config']}] {row['target']}: {row['spill_bytes']} bytes" for row in rows
              if row["spill_bytes"]]
    assert not spills, "CUDA kernels that spill:\n" + "\n".join(spills)
    assert all(row["registers"] > 0 for row in rows)
    templated = [row for row in rows if row["kernel"] == "noise_bias_act_kernel" and row["target"] == "sm_90"]
    assert {row["config"] for row in templated} >= {"fp32, true", "fp16, false", "bf16, true"}, templated


@needs_cuda_module
def test_a_target_the_module_was_not_built_for_is_a_failed_row():
    rows, note = K.cuda_report(["sm_120"])  # the default build has sm_90 PTX for it, no SASS
    assert note is None and len(rows) == 1 and "holds no sm_120 code" in rows[0]["error"], rows


def test_a_module_without_cuda_is_said_so_in_one_line(monkeypatch):
    from click.testing import CliRunner

    from stylegan_fast.cli import main

    monkeypatch.setattr(_native, "cuda_compiled", lambda: False)
    rows, note = K.cuda_report(TARGETS)
    assert rows == [] and note.startswith("no CUDA kernels to list: ") and "\n" not in note, note
    r = CliRunner().invoke(main, ["kernels", "--compile", "sm_90", "--backend", "cuda"])
    assert r.exit_code == 1 and "no CUDA kernels to list" in r.output, r.output
    if importlib.util.find_spec("triton") is not None and os.environ.get("TRITON_INTERPRET") != "1":
        r = CliRunner().invoke(main, ["kernels"])  # the Triton listing, and the line about CUDA
        assert r.exit_code == 0 and "no CUDA kernels to list" in r.output and "noise_stream" in r.output, r.output
