"""benchmarks/compare_nvlabs.py: ours beside NVlabs' own generator, on CPU with a tiny model.

The runs need NVlabs' stylegan2-ada-pytorch checked out at third_party_ref/stylegan2-ada-pytorch
(never committed: non-commercial licence); without it they skip. Each runs the script in a child
process, as gpu_check.sh does, and reads its JSON.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare_nvlabs import NVLABS, Row, cell_order, parse_args, set_ratios
from stylegan_fast.bench import TOLERANCES

REPO = Path(__file__).resolve().parents[1]
NVLABS_DIR = REPO / "third_party_ref" / "stylegan2-ada-pytorch"
needs_checkout = pytest.mark.skipif(
    not (NVLABS_DIR / "training" / "networks.py").is_file(),
    reason=f"no NVlabs checkout at {NVLABS_DIR} (extract github:NVlabs/stylegan2-ada-pytorch there to run it)")
TINY = ["--device", "cpu", "--resolution", "16", "--channel-base", "256", "--channel-max", "32",
        "--repeats", "1", "--warmup", "0", "--threads", "2"]
ROW_KEYS = {"resolution", "batch", "dtype", "engine", "status", "reason", "img_per_s", "ms_per_img", "x_nvlabs",
            "x_nvlabs_best", "x_nvlabs_dtype", "max_abs_err", "bound", "ops_on", "notes", "times_s",
            "num_fp16_res", "conv_clamp"}


def run_script(tmp_path, *options):
    out = tmp_path / "nvlabs.json"
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "STYLEGAN_FAST_BACKEND")}
    r = subprocess.run([sys.executable, "benchmarks/compare_nvlabs.py", "--nvlabs-dir", str(NVLABS_DIR), *TINY,
                        *options, "--json", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return r, (json.loads(out.read_text()) if out.exists() else None)


@needs_checkout
def test_ours_agrees_with_nvlabs_and_every_row_is_reported(tmp_path):
    r, result = run_script(tmp_path, "--batch", "1,2", "--dtype", "fp32,fp16", "--dtype", "bf16",
                           "--backend", "reference,cpu,triton")
    assert r.returncode == 0, f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    head = ["res", "batch", "dtype", "engine", "img/s", "ms/img", "x NVlabs", "max err", "notes"]
    assert any([c.strip() for c in line.split("|")] == head for line in r.stdout.splitlines()), r.stdout
    assert result["complete"] and result["nvlabs_path"] == "pure PyTorch (CPU)"
    assert result["nvlabs_plugins"] == {"bias_act": False, "upfirdn2d": False}
    rows = {(row["batch"], row["dtype"], row["engine"]): row for row in result["rows"]}
    engines = [NVLABS, "ours-reference", "ours-cpu", "ours-triton"]
    assert sorted(rows) == sorted((b, d, e) for b in (1, 2) for d in ("fp32", "fp16", "bf16") for e in engines)
    # headline first: fp16 at the largest batch
    assert [(row["batch"], row["dtype"]) for row in result["rows"][:4]] == [(2, "fp16")] * 4
    for (batch, dtype, engine), row in rows.items():
        assert set(row) == ROW_KEYS, row
        assert (row["num_fp16_res"], row["conv_clamp"]) == ((4, 256) if dtype == "fp16" else (0, None))
        if row["status"] != "ok":
            assert row["reason"], row
            continue
        assert row["img_per_s"] > 0 and row["ms_per_img"] == pytest.approx(1e3 / row["img_per_s"])
        assert len(row["times_s"]) == 1
        if engine == NVLABS:
            assert row["notes"] == ["pure PyTorch (CPU)"]
            continue
        assert 0 <= row["max_abs_err"] <= row["bound"], row
        assert row["bound"] >= TOLERANCES[dtype]
        assert row["x_nvlabs"] > 0 and row["x_nvlabs_best"] > 0, row
        assert row["x_nvlabs_dtype"] == ("fp16" if dtype == "bf16" else dtype)
    assert rows[(1, "bf16", NVLABS)]["status"] == "n/a" and "no bf16 mode" in rows[(1, "bf16", NVLABS)]["reason"]
    for batch in (1, 2):
        for dtype in ("fp32", "fp16", "bf16"):
            assert rows[(batch, dtype, "ours-reference")]["status"] == "ok"
            assert rows[(batch, dtype, "ours-triton")]["status"] == "unavailable"
        assert rows[(batch, "fp32", NVLABS)]["status"] == rows[(batch, "fp16", NVLABS)]["status"] == "ok"
    # fp32 against fp32: far inside the fp16 tolerance
    assert rows[(1, "fp32", "ours-reference")]["max_abs_err"] < 1e-4
    checks = {(c["dtype"], c["engine"]) for c in result["equivalence"]}
    assert checks == {(d, e) for d in ("fp32", "fp16", "bf16") for e in engines}


@needs_checkout
def test_an_engine_out_of_tolerance_fails_and_is_not_timed(tmp_path):
    r, result = run_script(tmp_path, "--batch", "1", "--dtype", "fp32", "--backend", "reference",
                           "--tolerance", "fp32=1e-12")
    assert r.returncode == 1, f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    ours = next(row for row in result["rows"] if row["engine"] == "ours-reference")
    assert ours["status"] == "FAIL" and ours["max_abs_err"] > ours["bound"] and "max abs err" in ours["reason"]
    assert ours["times_s"] == [] and ours["img_per_s"] is None


@needs_checkout
def test_rows_past_the_budget_are_skipped(tmp_path):
    r, result = run_script(tmp_path, "--batch", "1,2", "--dtype", "fp32", "--backend", "reference", "--budget-s", "0")
    assert r.returncode == 0, f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert len(result["rows"]) == 4 and all(row["status"] == "skipped" for row in result["rows"])
    assert "--budget-s 0" in result["rows"][0]["reason"] and result["equivalence"] == []


def test_headline_cells_come_first():
    cells = cell_order([256, 1024], ["fp32", "fp16"], [1, 64])
    assert cells[:2] == [(256, 64, "fp16"), (1024, 64, "fp16")]
    assert sorted(cells) == sorted((r, b, d) for r in (256, 1024) for b in (1, 64) for d in ("fp32", "fp16"))
    assert cell_order([256], ["fp32"], [1, 8]) == [(256, 1, "fp32"), (256, 8, "fp32")]


def test_bf16_is_compared_with_nvlabs_fp16_of_the_same_cell():
    def row(dtype, engine, seconds):
        return Row(256, 8, dtype, engine, img_per_s=8 / seconds, times_s=[seconds])

    rows = [row("fp16", NVLABS, 2.0), row("fp32", NVLABS, 4.0), row("bf16", "ours-reference", 1.0),
            row("fp32", "ours-reference", 1.0), Row(256, 8, "bf16", NVLABS, status="n/a")]
    set_ratios(rows)
    assert (rows[2].x_nvlabs, rows[2].x_nvlabs_dtype, rows[2].x_nvlabs_best) == (2.0, "fp16", 2.0)
    assert (rows[3].x_nvlabs, rows[3].x_nvlabs_dtype) == (4.0, "fp32")
    assert rows[0].x_nvlabs is None


@pytest.mark.parametrize("option, value, accepted", [("--dtype", "fp8", "fp32, fp16, bf16"),
                                                     ("--backend", "cudnn", "reference"),
                                                     ("--resolution", "300", "powers of two"),
                                                     ("--tolerance", "fp64=1", "DTYPE=VALUE")])
def test_bad_options_name_what_was_given_and_what_is_accepted(capsys, option, value, accepted):
    with pytest.raises(SystemExit):
        parse_args([option, value])
    err = capsys.readouterr().err
    assert value in err and accepted in err, err
