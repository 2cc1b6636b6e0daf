"""Every kernel configuration compiles for sm_80 and sm_90 without spilling (the CI gate), and the
pieces of ``stylegan-fast kernels``: the cuobjdump parser, labels, sampling, failure and spill rows.

The gate compiles ahead of time (no GPU needed) in a child process without TRITON_INTERPRET.
"""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stylegan_fast import kernels as K

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("sm_80", "sm_90")
needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")

# cuobjdump -res-usage of noise_bias_act_kernel (Triton 3.9, sm_90): fields on the line after the function
CUOBJDUMP_39 = """
Resource usage:
 Common:
  GLOBAL:0
 Function noise_bias_act_kernel:
  REG:30 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:608 TEXTURE:0 SURFACE:0 SAMPLER:0
"""
# A spilling kernel (Triton 3.9, sm_90, BLOCK=16384 on one warp) and an older layout: fields on the same line
CUOBJDUMP_SPILL = """
Resource usage:
 Common:
  GLOBAL:0
 Function spilling_kernel:
  REG:168 STACK:2936 SHARED:0 LOCAL:0 CONSTANT[0]:560 TEXTURE:0 SURFACE:0 SAMPLER:0
"""
CUOBJDUMP_ONE_LINE = """
Resource usage:
 Common:
  GLOBAL:0 CONSTANT[3]:12
 Function _Z6kernelPf:REG:40 STACK:16 SHARED:2048 LOCAL:8 CONSTANT[0]:356 TEXTURE:0 SURFACE:0 SAMPLER:0
 Function other_kernel:REG:12 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:352 TEXTURE:0 SURFACE:0 SAMPLER:0
"""


def test_parse_res_usage_triton_39_layout():
    usage = K.parse_res_usage(CUOBJDUMP_39)
    assert usage == {"noise_bias_act_kernel": {"REG": 30, "STACK": 0, "SHARED": 0, "LOCAL": 0, "CONSTANT[0]": 608,
                                               "TEXTURE": 0, "SURFACE": 0, "SAMPLER": 0}}
    assert K.resources(usage["noise_bias_act_kernel"]) == {"registers": 30, "spill_bytes": 0, "shared_bytes": 0}


def test_parse_res_usage_spills_and_several_functions():
    spill = K.parse_res_usage(CUOBJDUMP_SPILL)["spilling_kernel"]
    assert K.resources(spill) == {"registers": 168, "spill_bytes": 2936, "shared_bytes": 0}
    usage = K.parse_res_usage(CUOBJDUMP_ONE_LINE)
    assert list(usage) == ["_Z6kernelPf", "other_kernel"]  # the Common section is not a function
    assert K.resources(usage["_Z6kernelPf"]) == {"registers": 40, "spill_bytes": 24, "shared_bytes": 2048}
    assert K.resources(usage["other_kernel"]) == {"registers": 12, "spill_bytes": 0, "shared_bytes": 0}
    assert K.parse_res_usage("") == {}


def test_config_label_and_targets():
    cfg = dict(signature={"x_ptr": "*fp16", "y_ptr": "*fp16", "s_ptr": "*fp32", "n": "i32", "ACT": "constexpr",
                          "HAS_BIAS": "constexpr", "BLOCK": "constexpr"},
               constexprs={"ACT": 2, "HAS_BIAS": True, "BLOCK": 1024}, num_warps=8)
    assert K.config_label(cfg) == "fp16/fp32 ACT=2 HAS_BIAS=1 BLOCK=1024 w8"
    assert [K.parse_target(t) for t in ("sm_80", "sm_90", "sm_90a", "90")] == [80, 90, 90, 90]
    with pytest.raises(ValueError, match="sm_80"):
        K.parse_target("hopper")


def test_pairs_sample_covers_every_pair_of_settings():
    import itertools

    configs = [dict(signature={"x": p}, constexprs=dict(A=a, B=b, C=c), num_warps=w)
               for p, a, b, c, w in itertools.product(["*fp32", "*fp16", "*bf16"], [0, 1, 2], [False, True],
                                                      [128, 1024], [4, 8])]
    sample = K.sample_configs(configs, "pairs")
    assert K.sample_configs(configs, "all") == configs

    def settings(c):
        return [("p", c["signature"]["x"])] + sorted(c["constexprs"].items()) + [("w", c["num_warps"])]

    def pairs(c):
        s = settings(c)
        return {(a, b) for i, a in enumerate(s) for b in s[i + 1:]}

    assert set().union(*map(pairs, sample)) == set().union(*map(pairs, configs))
    assert len(sample) <= 15 < len(configs) == 72
    heaviest = dict(signature={"x": "*fp32"}, constexprs=dict(A=2, B=True, C=1024), num_warps=8)
    assert heaviest in sample
    with pytest.raises(ValueError):
        K.sample_configs(configs, "some")


def test_json_rows_have_exactly_the_keys():
    ok = {"backend": "triton", "kernel": "a/k", "config": "fp32 w4", "target": "sm_80", "registers": 20,
          "spill_bytes": 0, "shared_bytes": 0, "error": None, "cpu_seconds": 0.5}
    bad = dict(ok, registers=None, spill_bytes=None, shared_bytes=None, error="CompilationError: at 3:4")
    assert list(K.json_rows([ok])[0]) == ["backend", "kernel", "config", "target", "registers", "spill_bytes",
                                          "shared_bytes"]
    assert K.json_rows([bad])[0]["error"] == "CompilationError: at 3:4"
    assert K.summary([ok, bad], ["sm_80"]) == "1 kernels: configs compiled: 1 for sm_80; 1 failure, 0 spilling"


def test_without_triton_the_error_says_so(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    with pytest.raises(K.TritonNotInstalledError, match="triton is not installed"):
        K.compile_report(["sm_80"])


def test_cli_names_a_bad_target_and_a_missing_triton(monkeypatch):
    from click.testing import CliRunner

    from stylegan_fast.cli import main

    if importlib.util.find_spec("triton") is not None and os.environ.get("TRITON_INTERPRET") != "1":
        r = CliRunner().invoke(main, ["kernels", "--compile", "sm_80,hopper"])
        assert r.exit_code == 2 and "unknown GPU target 'hopper'" in r.output, r.output
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    r = CliRunner().invoke(main, ["kernels", "--compile", "sm_80"])
    assert r.exit_code == 1 and "triton is not installed" in r.output, r.output


TEST_KERNELS = '''
import triton
import triton.language as tl

from stylegan_fast.ops.triton_support import KernelSpec


@triton.jit
def spilling_kernel(x_ptr, y_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(y_ptr + offs, x * tl.sum(x, 0))  # one warp keeps 16384 values live across the sum: spills


@triton.jit
def broken_kernel(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, no_such_function(tl.load(x_ptr + offs)))


def kernel_specs():
    sig = {"x_ptr": "*fp32", "y_ptr": "*fp32", "BLOCK": "constexpr"}
    return [KernelSpec("spilling_kernel", spilling_kernel, [dict(signature=sig, constexprs={"BLOCK": 16384},
                                                                 num_warps=1)]),
            KernelSpec("broken_kernel", broken_kernel, [dict(signature={"x_ptr": "*fp32", "BLOCK": "constexpr"},
                                                             constexprs={"BLOCK": 64}, num_warps=1)])]
'''


@needs_triton
def test_compile_report_rows_for_spills_and_failures(tmp_path, monkeypatch):
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("TRITON_INTERPRET=1: kernels cannot be compiled")
    (tmp_path / "sf_test_kernels.py").write_text(textwrap.dedent(TEST_KERNELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("sf_test_kernels")
    found = [K.FoundKernel("triton", "test", module.__name__, f"test/{s.name}", spec=s) for s in module.kernel_specs()]
    found.append(K.FoundKernel("triton", "gone", "x.triton_kernels", "gone/triton_kernels", error="ImportError: x"))
    rows = K.compile_report(["sm_90"], jobs=1, progress=False, found=found)
    by_kernel = {r["kernel"]: r for r in rows}
    assert list(by_kernel) == ["test/spilling_kernel", "test/broken_kernel", "gone/triton_kernels"]
    spill = by_kernel["test/spilling_kernel"]
    assert spill["error"] is None and spill["registers"] > 0 and spill["spill_bytes"] > 0, spill
    assert K.spilling(rows) == [spill]
    broken = by_kernel["test/broken_kernel"]
    assert "no_such_function" in broken["error"] and broken["registers"] is None
    assert len(broken["error"].splitlines()) <= K.ERROR_LINES + 1
    assert by_kernel["gone/triton_kernels"]["error"] == "ImportError: x"
    assert K.failures(rows) == [broken, by_kernel["gone/triton_kernels"]]
    from stylegan_fast.cli.kernels import format_rows

    table = format_rows(rows)
    assert "SPILLS" in table and "FAILED: CompilationError" in table


@needs_triton
@pytest.mark.slow
def test_every_kernel_configuration_compiles_for_sm80_and_sm90(tmp_path):
    """The CI gate: all configurations of all kernels compile for both targets, and none spills."""
    out = tmp_path / "kernels.json"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, "-m", "stylegan_fast", "kernels", "--compile", ",".join(TARGETS),
                        "--json", str(out), "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900)
    print(r.stdout[-3000:])
    rows = json.loads(out.read_text()) if out.exists() else []
    failures = [f"{x['kernel']} [{x['config']}] {x['target']}: {x['error']}" for x in rows if "error" in x]
    assert not failures, "configurations that do not compile:\n" + "\n".join(failures)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    for row in rows:
        assert set(row) == {"backend", "kernel", "config", "target", "registers", "spill_bytes", "shared_bytes"}, row
    spills = [f"{x['kernel']} [{x['config']}] {x['target']}: {x['spill_bytes']} bytes" for x in rows
              if x["spill_bytes"]]
    assert not spills, "configurations that spill registers (launchers must not choose them):\n" + "\n".join(spills)
    low = [x for x in rows if not x["registers"] > 0]
    assert not low, f"no registers reported: {low[:5]}"
    # every configuration of every kernel found here has a row for each target
    found = {k.name: len(k.configs) for k in K.find_kernel_specs()}
    assert not [k for k in K.find_kernel_specs() if k.error], "kernel modules that fail to import"
    for target in TARGETS:
        got = {}
        for x in rows:
            if x["target"] == target and x["backend"] == "triton":  # the CUDA rows: test_kernels_cuda_compile.py
                got[x["kernel"]] = got.get(x["kernel"], 0) + 1
        assert got == {name: n for name, n in found.items() if n}, f"{target}: rows per kernel differ from the specs"
