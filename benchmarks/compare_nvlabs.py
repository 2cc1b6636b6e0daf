"""Side-by-side check of stylegan_fast against NVlabs' stylegan2-ada-pytorch on the same weights.

    python benchmarks/compare_nvlabs.py --device cpu --resolution 32 --channel-base 512 --channel-max 64 \
        --batch 1,2 --dtype fp32 --backend reference,cpu --json /tmp/x.json
    python benchmarks/compare_nvlabs.py --device cuda --resolution 256,512,1024 --channel-base 32768 \
        --batch 1,8,32,64 --dtype fp16,bf16,fp32 --backend reference,triton,cuda --budget-s 240 --json out.json

Per (resolution, dtype), once: build NVlabs' ``training.networks.Generator`` with random init (and
random nonzero noise strengths, biases and w_avg), copy its tensors by name into a
``stylegan_fast.Generator`` of the same config, and check every engine's images against NVlabs'
(seeds ``--seeds``, psi 1, noise_mode const; max abs diff within ``tol x max(1, max|NVlabs|)``, tol
per dtype as in ``stylegan_fast.bench``). An engine out of tolerance is a FAIL row and is not timed.
Then per (resolution, batch, dtype): warm-up and timed calls interleaved over the engines (the
order reversed every round), synchronized on CUDA, under ``torch.inference_mode()``; img/s and
ms/img from the median call; ``x NVlabs`` is our img/s over NVlabs' in the same cell.

dtypes: fp32 is num_fp16_res 0, conv_clamp None for both; fp16 is NVlabs' own mixed precision as
its training configs set it (num_fp16_res 4, conv_clamp 256: the four highest resolutions in
float16 on CUDA), ours built with the same config; bf16: NVlabs has no such mode (its row is n/a),
ours is the fp32 config cast to bfloat16 as ``stylegan_fast.bench --dtype bf16`` does, checked
against NVlabs fp32 and its ``x NVlabs`` taken over NVlabs' fp16 row of the same cell.

Rows run headline first (fp16 at the largest batch, each resolution), then the rest; after
``--budget-s`` seconds no new cell starts and the remaining rows are "skipped". ``--json`` is
rewritten (atomically) after every cell, so a run cut short still leaves its rows.

NVlabs' code is only imported from ``--nvlabs-dir`` at run time (it is under a non-commercial
licence and is never vendored here). On CPU it runs its pure-PyTorch paths and is kept from
building anything. On CUDA it JIT-compiles its bias_act and upfirdn2d plugins (ninja + nvcc) into
a fresh ``TORCH_EXTENSIONS_DIR`` on its first forward; whether each really loaded is read back from
its own ``_init()`` and reported as ``nvlabs_plugins`` / ``nvlabs_path`` ("cuda plugins", or "slow
fallback (pure PyTorch)" when a build failed: its figures are then those of the fallback).
Exit status 1 if any row FAILs or errors.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import stylegan_fast  # noqa: E402
from benchmarks.cpu_engines import DEFAULT_NVLABS_DIR  # noqa: E402
from stylegan_fast.backends import BACKENDS, BackendUnavailableError, backend_status, describe_dispatch  # noqa: E402
from stylegan_fast.bench import (TOLERANCES, machine_info, make_latents, max_abs_err, paper_channel_base,  # noqa: E402
                                 synchronize, time_calls)
from stylegan_fast.fileio import atomic_path  # noqa: E402

NVLABS = "nvlabs"
# NVlabs' synthesis settings per dtype; fp16 = its training configs' mixed precision (train.py).
MODES = {"fp32": dict(num_fp16_res=0, conv_clamp=None), "fp16": dict(num_fp16_res=4, conv_clamp=256)}
NO_BF16 = "NVlabs' generator has no bf16 mode (fp32, or its fp16 mixed precision)"
HEADLINE_DTYPE = "fp16"
CUDA_PLUGINS, SLOW_FALLBACK, CPU_PATH = "cuda plugins", "slow fallback (pure PyTorch)", "pure PyTorch (CPU)"
CHECK_PSI = 1.0


# --------------------------------------------------------------------------------------------
# NVlabs import (runtime only), its plugins, its generator, and our copy of it
# --------------------------------------------------------------------------------------------

def import_nvlabs(nvlabs_dir: Path, allow_plugins: bool = False):
    """Import NVlabs' ``training.networks`` from ``nvlabs_dir``; returns (networks module, notes).

    Unless ``allow_plugins``, NVlabs is kept from building its CUDA plugins (it only tries for
    CUDA tensors, so on CPU this guard is never reached)."""
    nvlabs_dir = Path(nvlabs_dir).resolve()
    if not (nvlabs_dir / "training" / "networks.py").is_file():
        raise SystemExit(f"--nvlabs-dir {str(nvlabs_dir)!r} has no training/networks.py "
                         f"(fetch github:NVlabs/stylegan2-ada-pytorch and extract it there)")
    if str(nvlabs_dir) not in sys.path:
        sys.path.insert(0, str(nvlabs_dir))
    notes = [] if "requests" in sys.modules or importlib.util.find_spec("requests") else [stub_requests()]
    from torch_utils import custom_ops  # noqa: E402  (NVlabs)

    if not allow_plugins:
        def _no_plugin(module_name, *args, **kwargs):
            raise RuntimeError(f"NVlabs tried to build its CUDA plugin {module_name!r}; this benchmark must run "
                               f"their pure-PyTorch (impl='ref') paths on CPU")

        custom_ops.get_plugin = _no_plugin
        notes.append("torch_utils.custom_ops.get_plugin replaced by a function that raises (never called on CPU)")
    from training import networks  # noqa: E402  (NVlabs)
    return networks, notes


def stub_requests() -> str:
    """NVlabs' dnnlib/util.py imports ``requests`` at the top, only to download URLs, which this script
    never does: without the package, a stand-in module whose every attribute is missing, with a message.
    (AttributeError, not another error: ``inspect`` and torch probe every module with hasattr.)"""
    def missing(name):
        raise AttributeError(f"requests.{name}: the requests package is not installed (stand-in for NVlabs' import)")

    stub = types.ModuleType("requests")
    stub.__getattr__ = missing
    sys.modules["requests"] = stub
    return "requests is not installed: a stand-in module satisfies dnnlib's import (NVlabs uses it only for URLs)"


def nvlabs_plugins() -> dict:
    """{plugin: loaded} after NVlabs' first CUDA forward. Its ``_init()`` builds once, caches the
    outcome and returns whether the compiled plugin is in use; it is only asked once it has run
    (``_inited``), so asking never starts a build."""
    from torch_utils.ops import bias_act, upfirdn2d  # noqa: E402  (NVlabs)

    return {"bias_act": bool(bias_act._inited and bias_act._init()),
            "upfirdn2d": bool(upfirdn2d._inited and upfirdn2d._init())}


def build_nvlabs(networks, resolution, channel_base, channel_max, seed, num_fp16_res=0, conv_clamp=None):
    torch.manual_seed(seed)
    G = networks.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                           mapping_kwargs=dict(num_layers=8),
                           synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max,
                                                 num_fp16_res=num_fp16_res, conv_clamp=conv_clamp))
    # Random init leaves noise_strength, biases and w_avg at 0 / 1; make them nonzero so the
    # comparison exercises every term.
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif name.endswith("affine.bias"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)  # stays around bias_init=1
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        G.mapping.w_avg.copy_(torch.randn(G.mapping.w_avg.shape, generator=gen))
    return G.eval().requires_grad_(False)


def ours_key(nvlabs_key: str) -> str:
    """NVlabs state-dict name -> stylegan_fast name (only noise_const differs)."""
    if nvlabs_key.endswith(".noise_const"):
        return nvlabs_key[: -len("noise_const")] + "noise.noise_const"
    return nvlabs_key


def copy_weights(G_nv, G_ours):
    """Copy every NVlabs tensor into ours by name; resample filters are checked, not copied
    (ours are non-persistent buffers built from the same [1, 3, 3, 1] taps)."""
    theirs = G_nv.state_dict()
    ours_sd = G_ours.state_dict()
    tensors, skipped = {}, []
    for k, v in theirs.items():
        if k.endswith("resample_filter"):
            skipped.append(k)
            continue
        tensors[ours_key(k)] = v.detach().clone()
    missing = sorted(set(ours_sd) - set(tensors))
    extra = sorted(set(tensors) - set(ours_sd))
    if missing or extra:
        raise SystemExit(f"name mapping mismatch: ours lacks {extra[:5]}, theirs lacks {missing[:5]}")
    G_ours.load_tensors(tensors, source="NVlabs generator")
    return len(tensors), len(skipped)


def run_ours(G, z, psi):
    return G(z, truncation_psi=psi, noise_mode="const")


def run_nvlabs(G, z, psi):
    return G(z, None, truncation_psi=psi, noise_mode="const")


# --------------------------------------------------------------------------------------------
# One (resolution, dtype): the generators, checked against NVlabs
# --------------------------------------------------------------------------------------------

@dataclass
class Check:
    """One engine's images against NVlabs' for one (resolution, dtype)."""
    status: str = "ok"  # ok | FAIL | error | unavailable | n/a
    reason: Optional[str] = None
    max_abs_err: Optional[float] = None
    bound: Optional[float] = None  # the max abs err allowed: tol x max(1, max|NVlabs|)
    ops_on: Optional[str] = None


@dataclass
class Pair:
    nvlabs: Optional[torch.nn.Module]  # None for bf16
    ours: stylegan_fast.Generator
    checks: dict  # engine -> Check
    config: dict


@dataclass
class Row:
    resolution: int
    batch: int
    dtype: str
    engine: str  # "nvlabs" or "ours-<backend>"
    status: str = "ok"  # ok | FAIL | error | unavailable | n/a | skipped
    reason: Optional[str] = None
    img_per_s: Optional[float] = None
    ms_per_img: Optional[float] = None
    x_nvlabs: Optional[float] = None  # img/s over NVlabs' img/s (medians)
    x_nvlabs_best: Optional[float] = None  # the same from the fastest call of each
    x_nvlabs_dtype: Optional[str] = None  # the NVlabs row it is taken over (fp16 for bf16 rows)
    max_abs_err: Optional[float] = None
    bound: Optional[float] = None
    ops_on: Optional[str] = None
    notes: list = field(default_factory=list)
    times_s: list = field(default_factory=list)
    num_fp16_res: int = 0
    conv_clamp: Optional[float] = None


class Comparison:
    """The generators (built lazily, kept), the plugin state and the rows of one run."""

    def __init__(self, args, networks, notes):
        self.args, self.networks, self.notes = args, networks, notes
        self.device = args.device
        self.engines = [NVLABS] + [f"ours-{b}" for b in args.backend]
        self.nvlabs_cache: dict = {}  # (resolution, mode) -> (generator, its images of the check z)
        self.pairs: dict = {}  # (resolution, dtype) -> Pair
        self.rows: list[Row] = []
        self.plugins: Optional[dict] = None
        self.plugin_errors: list[str] = []
        self.nvlabs_first_call_s: Optional[float] = None
        self.check_z = stylegan_fast.z_from_seeds(args.seeds, 512).float().to(self.device)  # [N, 512]
        if self.device.type == "cpu":
            self.plugins = {"bias_act": False, "upfirdn2d": False}

    @property
    def nvlabs_path(self) -> Optional[str]:
        if self.device.type == "cpu":
            return CPU_PATH
        if self.plugins is None:
            return None  # NVlabs has not run yet
        return CUDA_PLUGINS if all(self.plugins.values()) else SLOW_FALLBACK

    def nvlabs(self, resolution: int, mode: str):
        """NVlabs' generator for (resolution, mode) on the device and its images of the check seeds."""
        key = (resolution, mode)
        if key not in self.nvlabs_cache:
            a = self.args
            G = build_nvlabs(self.networks, resolution, a.channel_base or paper_channel_base(resolution), a.channel_max,
                             a.init_seed, **MODES[mode]).to(self.device)
            first = self.plugins is None
            with warnings.catch_warnings(record=True) as caught, torch.inference_mode():
                warnings.simplefilter("always")
                start = time.perf_counter()
                images = run_nvlabs(G, self.check_z, CHECK_PSI)
                synchronize(self.device)
            if first:  # the first CUDA forward: NVlabs built (or failed to build) its plugins in it
                self.nvlabs_first_call_s = time.perf_counter() - start
                self.plugins = nvlabs_plugins()
                messages = [str(w.message).strip().splitlines() for w in caught]
                self.plugin_errors = [f"{m[0]} -- {m[-1]}" for m in messages if m[0].startswith("Failed to build")]
                print(f"NVlabs on {self.device}: plugins {self.plugins} -> {self.nvlabs_path} "
                      f"(first call {self.nvlabs_first_call_s:.1f} s, plugin builds included)"
                      + "".join(f"\n  build failure: {e}" for e in self.plugin_errors), flush=True)
            self.nvlabs_cache[key] = (G, images)
        return self.nvlabs_cache[key]

    def pair(self, resolution: int, dtype: str) -> Pair:
        key = (resolution, dtype)
        if key not in self.pairs:
            self.pairs[key] = self._build_pair(resolution, dtype)
        return self.pairs[key]

    def _build_pair(self, resolution: int, dtype: str) -> Pair:
        a = self.args
        mode = "fp32" if dtype == "bf16" else dtype
        channel_base = a.channel_base or paper_channel_base(resolution)
        G_nv, reference = self.nvlabs(resolution, mode)
        G_ours = stylegan_fast.Generator.from_config(arch="stylegan2", resolution=resolution, channel_base=channel_base,
                                                     channel_max=a.channel_max, z_dim=512, w_dim=512, c_dim=0,
                                                     mapping_layers=8, backend="reference", **MODES[mode])
        n_copied, n_skipped = copy_weights(G_nv, G_ours)
        G_ours = G_ours.to(self.device, torch.bfloat16 if dtype == "bf16" else torch.float32).eval()
        G_ours.requires_grad_(False)
        config = dict(channel_base=channel_base, channel_max=a.channel_max, **MODES[mode])
        print(f"{resolution}px {dtype}: channel_base {channel_base}, channel_max {a.channel_max}, "
              f"num_fp16_res {config['num_fp16_res']}, conv_clamp {config['conv_clamp']}; "
              f"{sum(p.numel() for p in G_ours.parameters()) / 1e6:.2f}M params, {n_copied} tensors copied "
              f"({n_skipped} resample filters left to ours)", flush=True)

        bound = a.tolerance[dtype] * max(1.0, reference.double().abs().max().item())
        checks = {NVLABS: Check("n/a", NO_BF16) if dtype == "bf16" else Check(max_abs_err=0.0, bound=bound)}
        with torch.inference_mode():
            for engine in self.engines[1:]:
                checks[engine] = check = Check(bound=bound)
                backend = engine.removeprefix("ours-")
                ok, reason = backend_status(backend, self.device)
                if not ok:
                    check.status, check.reason = "unavailable", reason
                    continue
                try:
                    G_ours.backend = backend
                    images = run_ours(G_ours, self.check_z, CHECK_PSI)
                    synchronize(self.device)
                    check.ops_on = describe_dispatch(G_ours.last_dispatch)
                except BackendUnavailableError as e:  # e.g. no kernel for this dtype
                    check.status, check.reason = "unavailable", str(e)
                    continue
                except Exception as e:  # noqa: BLE001 - one broken backend must not hide the others' rows
                    check.status, check.reason = "error", f"{type(e).__name__}: {e}"
                    continue
                check.max_abs_err = max_abs_err(images, reference)
                if not torch.isfinite(images).all():
                    check.status, check.reason = "FAIL", "non-finite output"
                elif not check.max_abs_err <= bound:
                    check.status = "FAIL"
                    check.reason = (f"max abs err {check.max_abs_err:.3g} > {bound:.3g} "
                                    f"(tol {a.tolerance[dtype]:g} x max(1, max|NVlabs|))")
                print(f"  check {engine}: {check.status}, max abs err {check.max_abs_err:.3e} (bound {bound:.3e})"
                      + (f"; {check.reason}" if check.reason else ""), flush=True)
        return Pair(None if dtype == "bf16" else G_nv, G_ours, checks, config)

    # ----------------------------------------------------------------------------------------

    def run_cell(self, resolution: int, batch: int, dtype: str) -> list[Row]:
        """Check (first time for this resolution and dtype), then time every engine, interleaved."""
        try:
            pair = self.pair(resolution, dtype)
        except Exception as e:  # noqa: BLE001 - e.g. out of memory building the generators: other cells go on
            return self.blank_rows(resolution, batch, dtype, "error", f"setting up: {type(e).__name__}: {e}")
        a = self.args
        rows = {}
        for engine in self.engines:
            check = pair.checks[engine]
            rows[engine] = Row(resolution, batch, dtype, engine, check.status, check.reason,
                               max_abs_err=check.max_abs_err, bound=check.bound, ops_on=check.ops_on,
                               num_fp16_res=pair.config["num_fp16_res"], conv_clamp=pair.config["conv_clamp"])
        if dtype == "fp16" and self.device.type != "cuda":
            for engine in self.engines[1:]:
                if rows[engine].status == "ok":
                    rows[engine].notes.append("fp16 blocks ran in fp32 (stylegan_fast's mixed precision is CUDA-only)")
        z = make_latents(batch, 512, a.init_seed, self.device)

        def call(engine):
            if engine == NVLABS:
                return run_nvlabs(pair.nvlabs, z, a.psi)
            pair.ours.backend = engine.removeprefix("ours-")
            return run_ours(pair.ours, z, a.psi)

        runnable = [e for e in self.engines if rows[e].status == "ok"]
        with torch.inference_mode():
            for i in range(a.warmup + a.repeats):
                for engine in runnable if i % 2 == 0 else runnable[::-1]:
                    row = rows[engine]
                    if row.status != "ok":
                        continue
                    try:
                        t = time_calls(lambda: call(engine), self.device, 0, 1)[0]
                    except Exception as e:  # noqa: BLE001 - e.g. out of memory at this batch: the others go on
                        row.status, row.reason = "error", f"{type(e).__name__}: {e}"
                        if self.device.type == "cuda":
                            torch.cuda.empty_cache()
                        continue
                    if i >= a.warmup:
                        row.times_s.append(t)
        for engine in runnable:
            row = rows[engine]
            if row.status == "ok":
                row.img_per_s = batch / statistics.median(row.times_s)
                row.ms_per_img = 1e3 / row.img_per_s
                if engine == NVLABS:
                    row.notes.append(self.nvlabs_path)
            print(f"  {resolution}px batch {batch} {dtype} {engine}: " +
                  (f"{row.img_per_s:.2f} img/s, {row.ms_per_img:.3f} ms/img" if row.status == "ok"
                   else f"{row.status}: {row.reason}"), flush=True)
        return list(rows.values())

    def blank_rows(self, resolution: int, batch: int, dtype: str, status: str, reason: str) -> list[Row]:
        return [Row(resolution, batch, dtype, engine, status, reason) for engine in self.engines]


def set_ratios(rows) -> None:
    """x NVlabs of each of our rows: over NVlabs' row of the same cell; bf16 over NVlabs' fp16 (else fp32)."""
    nvlabs = {(r.resolution, r.batch, r.dtype): r for r in rows if r.engine == NVLABS and r.status == "ok"}
    for r in rows:
        if r.engine == NVLABS or r.status != "ok":
            continue
        for dtype in ((r.dtype,) if r.dtype != "bf16" else ("fp16", "fp32")):
            base = nvlabs.get((r.resolution, r.batch, dtype))
            if base:
                r.x_nvlabs, r.x_nvlabs_dtype = r.img_per_s / base.img_per_s, dtype
                r.x_nvlabs_best = min(base.times_s) / min(r.times_s)
                break


def cell_order(resolutions, dtypes, batches) -> list[tuple[int, int, str]]:
    """(resolution, batch, dtype): the headline cells (fp16 at the largest batch) first, then the rest."""
    head = [(res, max(batches), HEADLINE_DTYPE) for res in resolutions] if HEADLINE_DTYPE in dtypes else []
    rest = [(res, b, d) for res in resolutions for d in dtypes for b in batches if (res, b, d) not in head]
    return head + rest


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def format_table(rows) -> str:
    head = ["res", "batch", "dtype", "engine", "img/s", "ms/img", "x NVlabs", "max err", "notes"]
    body = []
    for r in rows:
        notes = list(r.notes)
        if r.status != "ok":
            notes.insert(0, f"{r.status}: {r.reason}")
        elif r.ops_on and r.ops_on != r.engine.removeprefix("ours-"):
            notes.append(f"ops ran on {r.ops_on}")
        if r.x_nvlabs_dtype and r.x_nvlabs_dtype != r.dtype:
            notes.append(f"x NVlabs {r.x_nvlabs_dtype}")
        ok = r.status == "ok"
        err = "ref" if r.engine == NVLABS and r.max_abs_err is not None else (
            "-" if r.max_abs_err is None else f"{r.max_abs_err:.2e}")
        body.append([str(r.resolution), str(r.batch), r.dtype, r.engine,
                     f"{r.img_per_s:.2f}" if ok else "-", f"{r.ms_per_img:.3f}" if ok else "-",
                     f"{r.x_nvlabs:.2f}x" if r.x_nvlabs else "-", err, "; ".join(notes)])
    widths = [max(len(c[i]) for c in body + [head]) for i in range(len(head))]
    right = {0, 1, 4, 5, 6, 7}

    def fmt(cells):
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return " | ".join(cells).rstrip()

    return "\n".join([fmt(head), "-+-".join("-" * w for w in widths)] + [fmt(c) for c in body])


def source_state() -> dict:
    """The commit checked out (read from .git, no git command) and a digest of stylegan_fast's sources
    (others may edit the tree during a run: the digest says which code was measured)."""
    commit = None
    git = REPO_ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        commit = head
        if head.startswith("ref: "):
            ref = head[5:]
            ref_file = git / ref
            if ref_file.is_file():
                commit = ref_file.read_text().strip()
            else:
                packed = (git / "packed-refs").read_text().splitlines()
                commit = next((line.split()[0] for line in packed if line.endswith(" " + ref)), ref)
    except OSError:
        pass
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "stylegan_fast").rglob("*.py")) + sorted((REPO_ROOT / "csrc").rglob("*.*")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return {"commit": commit, "sources_sha256": digest.hexdigest()[:16]}


def gpu_machine_info(device) -> dict:
    """``stylegan_fast.bench.machine_info`` plus the GPU driver and the triton version."""
    info = machine_info(device)
    try:
        info["triton"] = importlib.metadata.version("triton")
    except importlib.metadata.PackageNotFoundError:
        info["triton"] = None
    info["gpu_driver"] = None
    if device.type == "cuda":
        try:
            info["gpu_driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", f"--id={device.index or 0}"],
                capture_output=True, text=True, timeout=30).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def write_json(path, comparison: Comparison, info: dict, elapsed_s: float, complete: bool) -> None:
    c = comparison
    settings = {k: (str(v) if isinstance(v, (torch.device, Path)) else v) for k, v in vars(c.args).items()}
    checks = [dict(resolution=res, dtype=dtype, engine=engine, **asdict(check))
              for (res, dtype), pair in c.pairs.items() for engine, check in pair.checks.items()]
    result = dict(machine=info, settings=settings, notes=c.notes, modes=MODES, nvlabs_plugins=c.plugins,
                  nvlabs_path=c.nvlabs_path, nvlabs_plugin_errors=c.plugin_errors,
                  nvlabs_first_call_s=c.nvlabs_first_call_s,
                  torch_extensions_dir=os.environ.get("TORCH_EXTENSIONS_DIR"),
                  equivalence=checks, rows=[asdict(r) for r in c.rows], elapsed_s=elapsed_s, complete=complete)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2))


# --------------------------------------------------------------------------------------------
# Profiling (--profile, CPU): op tables for both, plus where ours loses time per layer
# --------------------------------------------------------------------------------------------

def profile_both(G_nv, G_ours, batch, psi, row_limit=15):
    from torch.profiler import ProfilerActivity, profile

    z = torch.randn([batch, 512], generator=torch.Generator().manual_seed(0))
    tables = {}
    with torch.inference_mode():
        for name, fn in (("ours", lambda: run_ours(G_ours, z, psi)), ("nvlabs", lambda: run_nvlabs(G_nv, z, psi))):
            fn()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                fn()
            tables[name] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)
    return tables


def _grouped_modconv(x, weight, styles, up, demodulate=True):
    """Per-sample weights as one grouped conv (benchmark-only formulation, for comparison)."""
    n, i, h, w_ = x.shape
    o, _, kh, kw = weight.shape
    wt = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)
    if demodulate:
        wt = wt * (wt.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    x = x.reshape(1, n * i, h, w_)
    if up == 1:
        y = torch.nn.functional.conv2d(x, wt.reshape(n * o, i, kh, kw), padding=kh // 2, groups=n)
    else:
        wt = wt.transpose(1, 2).reshape(n * i, o, kh, kw)
        y = torch.nn.functional.conv_transpose2d(x, wt, stride=2, groups=n)
    return y.reshape(n, o, *y.shape[2:])


def per_layer_conv_timing(G_ours, batch, repeats=5):
    """For each synthesis conv shape: our modulated_conv2d vs a grouped-conv formulation (the
    dominant conv only; for up=2 both include the transposed conv but not the FIR filter)."""
    from stylegan_fast.ops.modulated_conv2d import reference as mref

    rows = []
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for block in G_ours.synthesis.blocks():
            for lname in block.conv_names:
                layer = getattr(block, lname)
                o, i, kh, kw = layer.weight.shape
                in_res = block.resolution // layer.up
                x = torch.randn([batch, i, in_res, in_res], generator=gen)
                s = torch.randn([batch, i], generator=gen)
                w = layer.weight

                def ours_fn():
                    xs = x * s.reshape(batch, i, 1, 1)
                    if layer.up == 1:
                        y = torch.nn.functional.conv2d(xs, w, padding=kh // 2)
                    else:
                        y = torch.nn.functional.conv_transpose2d(xs, w.transpose(0, 1), stride=2)
                    return y * mref.demodulation_coefficients(w, s).reshape(batch, o, 1, 1)

                def grouped_fn():
                    return _grouped_modconv(x, w, s, layer.up)

                def full_ours():
                    return stylegan_fast.ops.modulated_conv2d(x, w, s, up=layer.up,
                                                              resample_filter=layer.resample_filter)

                res = {}
                for name, fn in (("shared", ours_fn), ("grouped", grouped_fn), ("ours_full_op", full_ours)):
                    fn()
                    ts = []
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        fn()
                        ts.append(time.perf_counter() - t0)
                    res[name] = min(ts) * 1e3  # best run: least disturbed by other processes
                rows.append(dict(layer=f"b{block.resolution}.{lname}", shape=[o, i, kh, kw], up=layer.up,
                                 in_res=in_res, shared_ms=res["shared"], grouped_ms=res["grouped"],
                                 ours_full_op_ms=res["ours_full_op"]))
    return rows


def print_profile(comparison: Comparison) -> None:
    a = comparison.args
    resolution, batch, dtype = a.resolution[0], a.batch[0], a.dtype[0]
    pair = comparison.pair(resolution, dtype)
    runs = [e.removeprefix("ours-") for e, check in pair.checks.items() if e != NVLABS and check.status == "ok"]
    pair.ours.backend = runs[0] if runs else "reference"
    for name, table in profile_both(pair.nvlabs, pair.ours, batch, a.psi).items():
        print(f"\n=== torch.profiler, {name}, {resolution}px batch {batch} (self CPU time) ===\n{table}")
    rows = per_layer_conv_timing(pair.ours, batch)
    print(f"\n=== per-layer modulated conv, batch {batch} (ms, best of 5) ===")
    print(f"{'layer':<12}{'up':>3}{'in_res':>7}{'shared':>10}{'grouped':>10}{'ours op':>10}")
    for r in rows:
        print(f"{r['layer']:<12}{r['up']:>3}{r['in_res']:>7}{r['shared_ms']:>10.2f}{r['grouped_ms']:>10.2f}"
              f"{r['ours_full_op_ms']:>10.2f}")
    tot = {k: sum(r[k] for r in rows) for k in ("shared_ms", "grouped_ms", "ours_full_op_ms")}
    print(f"{'total':<22}{tot['shared_ms']:>10.2f}{tot['grouped_ms']:>10.2f}{tot['ours_full_op_ms']:>10.2f}")


# --------------------------------------------------------------------------------------------

def _list(kind, choices=None):
    """argparse type: a comma list, every item converted by ``kind`` and (optionally) one of ``choices``."""
    def parse(text):
        try:
            items = [kind(v.strip()) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a comma list of {kind.__name__}") from None
        bad = [v for v in items if choices is not None and v not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: accepted: a comma list from {', '.join(map(str, choices))}"
                                             if bad else f"{text!r}: empty list")
        return items
    return parse


def _tolerances(text):
    """'fp16=0.1,bf16=0.2' -> the bench tolerances with those replaced."""
    out = dict(TOLERANCES)
    for item in text.split(","):
        name, _, value = item.partition("=")
        try:
            if name.strip() not in TOLERANCES:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: expected DTYPE=VALUE with DTYPE in "
                                             f"{', '.join(TOLERANCES)}") from None
    return out


def _flatten(lists, default):
    return list(dict.fromkeys(v for values in (lists or [default]) for v in values))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:3]))
    ap.add_argument("--nvlabs-dir", type=Path, default=DEFAULT_NVLABS_DIR,
                    help=f"extracted stylegan2-ada-pytorch checkout (default {DEFAULT_NVLABS_DIR})")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    ap.add_argument("--resolution", type=_list(int), action="append", help="comma list, repeatable (default 256)")
    ap.add_argument("--batch", type=_list(int), action="append", help="comma list, repeatable (default 4)")
    ap.add_argument("--dtype", type=_list(str, TOLERANCES), action="append",
                    help="fp32, fp16 (NVlabs' mixed precision) or bf16; comma list, repeatable (default fp32)")
    ap.add_argument("--backend", type=_list(str, BACKENDS), action="append",
                    help="our backends, one row each; comma list, repeatable (default reference,triton,cuda,cpu)")
    ap.add_argument("--channel-base", type=int,
                    help="default: NVlabs' paper configs, 16384 up to 256 px, else 32768")
    ap.add_argument("--channel-max", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per engine and cell (median taken)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per engine and cell first")
    ap.add_argument("--budget-s", type=float, help="start no new cell after this many seconds; the rest is skipped")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--psi", type=float, default=1.0, help="truncation psi while timing (the check uses 1)")
    ap.add_argument("--seeds", default="0-1", help="seeds of the equivalence check (default 0-1)")
    ap.add_argument("--init-seed", type=int, default=0, help="seed of the random NVlabs init and timing latents")
    ap.add_argument("--tolerance", type=_tolerances, default=dict(TOLERANCES),
                    help=f"DTYPE=VALUE,...: max abs diff over max(1, max|NVlabs|) (default {TOLERANCES})")
    ap.add_argument("--tf32", action="store_true", help="CUDA: let fp32 convs and matmuls use TF32 (default off)")
    ap.add_argument("--no-cudnn-benchmark", action="store_true",
                    help="CUDA: leave torch.backends.cudnn.benchmark off (default on, as NVlabs' training loop)")
    ap.add_argument("--extensions-dir", type=Path,
                    help="CUDA: TORCH_EXTENSIONS_DIR for NVlabs' plugin builds (default: a new folder under /tmp)")
    ap.add_argument("--profile", action="store_true",
                    help="CPU: torch.profiler tables and per-layer conv timings (first resolution, dtype, batch)")
    ap.add_argument("--json", type=Path, help="write machine info and all rows here (rewritten after every cell)")
    args = ap.parse_args(argv)
    args.resolution = _flatten(args.resolution, [256])
    args.batch = _flatten(args.batch, [4])
    args.dtype = _flatten(args.dtype, ["fp32"])
    args.backend = _flatten(args.backend, ["reference", "triton", "cuda", "cpu"])
    bad = [r for r in args.resolution if r < 4 or r & (r - 1)]
    if bad:
        ap.error(f"--resolution {bad}: accepted: powers of two >= 4")
    if min(args.batch) < 1 or args.repeats < 1 or args.warmup < 0:
        ap.error(f"--batch {args.batch}, --repeats {args.repeats}, --warmup {args.warmup}: "
                 f"batches and repeats must be >= 1, warmup >= 0")
    try:
        args.device = torch.device(args.device)
    except RuntimeError as e:
        ap.error(f"--device {args.device!r}: {e}; accepted: cpu or cuda[:N]")
    if args.device.type not in ("cpu", "cuda"):
        ap.error(f"--device {args.device}: accepted: cpu or cuda[:N]")
    if args.device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch.cuda.is_available() is False")
    if args.profile and args.device.type != "cpu":
        ap.error("--profile measures CPU time: use it with --device cpu")
    return args


def main(argv=None) -> int:
    start = time.monotonic()
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.type == "cuda"
    if cuda:
        if args.device.index is not None:
            torch.cuda.set_device(args.device)
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.tf32
        # NVlabs JIT-builds its plugins into TORCH_EXTENSIONS_DIR: a fresh folder, never the user's ~/.cache
        ext_dir = args.extensions_dir or Path(tempfile.mkdtemp(prefix="nvlabs-torch-extensions-"))
        ext_dir.mkdir(parents=True, exist_ok=True)
        os.environ["TORCH_EXTENSIONS_DIR"] = str(ext_dir)
    networks, notes = import_nvlabs(args.nvlabs_dir, allow_plugins=cuda)
    info = dict(gpu_machine_info(args.device), nvlabs_dir=str(args.nvlabs_dir.resolve()), stylegan_fast=source_state(),
                cudnn_benchmark=torch.backends.cudnn.benchmark if cuda else None, tf32=args.tf32 if cuda else None)
    print(f"torch {info['torch']} (CUDA {info['cuda']}), triton {info['triton']}, {info['device']} "
          f"({info['device_name']}{', driver ' + info['gpu_driver'] if info['gpu_driver'] else ''}), "
          f"{info['threads']} threads; stylegan_fast {info['stylegan_fast']}", flush=True)
    for n in notes:
        print(f"note: {n}")

    comparison = Comparison(args, networks, notes)
    if args.profile:
        print_profile(comparison)
    cells = cell_order(args.resolution, args.dtype, args.batch)
    load_before = os.getloadavg()[0]
    for resolution, batch, dtype in cells:
        elapsed = time.monotonic() - start
        if args.budget_s is not None and elapsed > args.budget_s:
            reason = f"not started: {elapsed:.0f} s elapsed > --budget-s {args.budget_s:g}"
            comparison.rows += comparison.blank_rows(resolution, batch, dtype, "skipped", reason)
            continue
        comparison.rows += comparison.run_cell(resolution, batch, dtype)
        set_ratios(comparison.rows)
        if args.json:
            write_json(args.json, comparison, info, time.monotonic() - start, complete=False)
    print(f"\nNVlabs plugins: {comparison.plugins} -> {comparison.nvlabs_path}; load average (1 min) before/after: "
          f"{load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    print(format_table(comparison.rows))
    print(f"\nimg/s, ms/img: median of {args.repeats} calls after {args.warmup} warm-up, engines interleaved; "
          f"x NVlabs: over NVlabs' img/s in the same cell (bf16: over its fp16); max err: max abs diff from "
          f"NVlabs' images (seeds {args.seeds}, psi 1, noise const; FAIL above tol x max(1, max|NVlabs|), "
          f"tol {args.tolerance}); fp16 = num_fp16_res 4, conv_clamp 256 for both.")
    if args.json:
        write_json(args.json, comparison, info, time.monotonic() - start, complete=True)
        print(f"wrote {args.json}")
    return 1 if any(r.status in ("FAIL", "error") for r in comparison.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
