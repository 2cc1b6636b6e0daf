"""CPU inference engines on the same StyleGAN2 weights, each timed in a fresh process of its own.

    python benchmarks/cpu_engines.py --resolution 256 --channel-base 16384 --batch 4 \
        [--engines ours-cpu,ours-reference,onnxruntime,nvlabs] [--rounds 3] [--calls 3] \
        [--nvlabs-dir third_party_ref/stylegan2-ada-pytorch] [--threads N] [--json PATH]

Engines:

* ``ours-cpu``: stylegan_fast, backend "cpu" (our C++ kernels); recorded as unavailable, with the
  reason, while ``stylegan_fast.backends.backend_status("cpu")`` says it cannot run;
* ``ours-reference``: stylegan_fast, backend "reference" (pure PyTorch);
* ``onnxruntime``: the generator exported by ``stylegan_fast.export.export_onnx`` (the reference
  backend's mapping + synthesis traced by ``torch.onnx.export(dynamo=True)``, noise_mode const, a
  fixed batch of ``--batch``, psi fed as its ``truncation_psi`` input), run by ONNX Runtime's
  CPUExecutionProvider with ``--threads`` intra-op threads. Spin-waiting of its
  thread pool is kept on or turned off, whichever was faster in one measurement of both before
  the rounds (``--ort-spinning auto``);
* ``nvlabs``: NVlabs' stylegan2-ada-pytorch ``training.networks.Generator`` (imported at run time
  from ``--nvlabs-dir``, never vendored: non-commercial licence), fp32, its pure-PyTorch paths
  (``benchmarks/compare_nvlabs.import_nvlabs`` keeps it from building plugins), with our weights.

Setup (this process, once): a seeded generator with random, nonzero noise strengths, biases and
w_avg, saved as our safetensors file; seeded z [batch, 512]; reference images (backend reference,
noise_mode const); the ONNX export. Then, per round, one fresh subprocess per engine (rounds
alternate the order: A B C D, then D C B A, ...). Each worker loads its engine, makes one warm-up
call whose images are checked against the reference images (FAIL above
``1e-3 * max(1, max|ref|)``: the engine is then not timed), times ``--calls`` calls (median) and
counts minor page faults per image over them (getrusage of the worker). Our engines' workers call
``stylegan_fast.keep_freed_memory()`` as the CLI does; the others run with their own allocators.

Reported per engine: median img/s over rounds (min-max), img/s over ours-reference, page faults per
image, CPU seconds (user + system, all threads) per image, max error; and ours-cpu's speed over
every other engine. The machine is shared and noisy: only ratios within one run mean anything
(CPU-s/img is less disturbed by other processes than img/s, though spin-waiting threads add to it). Exit status 1 if an engine FAILs or errors.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Heavy imports (torch, onnxruntime) happen where they are needed: the ONNX Runtime worker never
# imports torch, so its process holds only what ONNX Runtime itself needs.

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("ours-cpu", "ours-reference", "onnxruntime", "nvlabs")
OURS_BACKEND = {"ours-cpu": "cpu", "ours-reference": "reference"}
HEADLINE = "ours-cpu"  # the engine the ratios are of
BASELINE = "ours-reference"  # the column "x ours-reference"
TOLERANCE = 1e-3  # relative: max abs err <= TOLERANCE * max(1, max|ref|)
ORT_SPIN_KEY = "session.intra_op.allow_spinning"
DEFAULT_NVLABS_DIR = REPO_ROOT / "third_party_ref" / "stylegan2-ada-pytorch"


def _add_repo_to_path() -> None:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


# ============================================================================================
# Setup (parent process)
# ============================================================================================

def generator_config(args) -> dict:
    """What ``build_nvlabs`` in compare_nvlabs.py builds, as our config (it fixes z/w 512, no labels)."""
    return dict(arch="stylegan2", resolution=args.resolution, channel_base=args.channel_base,
                channel_max=args.channel_max, z_dim=512, w_dim=512, c_dim=0, mapping_layers=8,
                num_fp16_res=0, conv_clamp=None)


def build_weights(config: dict, seed: int):
    """Our generator, seeded, with every term switched on: random init leaves noise strengths and
    biases at 0 (affine biases at 1) and w_avg at 0, which would hide errors in those paths."""
    import torch
    import stylegan_fast

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = stylegan_fast.Generator.from_config(backend="reference", **config)
    draw = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, t in G.state_dict(keep_vars=True).items():
            noise = lambda: torch.randn(t.shape, generator=draw)  # noqa: E731
            if name.endswith("noise_strength"):
                t.copy_(noise() * 0.1)
            elif name.endswith("affine.bias"):
                t.add_(noise() * 0.1)  # stays around its init of 1
            elif name.endswith("bias"):
                t.copy_(noise() * 0.1)
            elif name == "mapping.w_avg":
                t.copy_(noise())
    return G.eval().requires_grad_(False)


def export_onnx(G, batch: int, path: Path) -> dict:
    """``stylegan_fast.export.export_onnx`` (reference backend, noise const, psi an input) for ``batch`` z; what
    it wrote, or why it failed, as a dict for setup.json."""
    from stylegan_fast.export import export_onnx as export

    info = dict(file=path.name, noise_mode="const", input="z", output="img", method=None)
    start = time.perf_counter()
    try:
        out = export(G, path, batch=batch, input="z")
    except Exception as e:  # noqa: BLE001 - recorded: the onnxruntime engine is then unavailable
        info.update(error=f"{type(e).__name__}: {str(e)[:2000]}", failed_after_s=time.perf_counter() - start)
        print(f"  ONNX export failed: {type(e).__name__}: {str(e)[:300]}", flush=True)
        return info
    info.update(method="stylegan_fast.export.export_onnx (torch.onnx.export dynamo=True)", export_s=out.export_s,
                bytes=out.bytes, opset={"ai.onnx": out.opset}, nodes=out.nodes, inputs=[n for n, _ in out.inputs])
    return info


def setup(args, workdir: Path, engines) -> dict:
    """Weights, latents, reference images and (if needed) the ONNX file, in ``workdir``."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    config = generator_config(args)
    G = build_weights(config, args.seed)
    G.save(workdir / "weights.safetensors")
    z = torch.randn([args.batch, 512], generator=torch.Generator().manual_seed(args.seed + 2))
    start = time.perf_counter()
    with torch.inference_mode():
        ref = G(z, truncation_psi=args.psi, noise_mode="const")
    ref_s = time.perf_counter() - start
    np.save(workdir / "z.npy", z.numpy().astype(np.float32))
    np.save(workdir / "ref.npy", ref.numpy().astype(np.float32))
    params = sum(p.numel() for p in G.parameters())
    print(f"setup: stylegan2 {args.resolution}px channel_base {args.channel_base} channel_max {args.channel_max}, "
          f"{params / 1e6:.2f}M params, batch {args.batch}, psi {args.psi}; reference images in {ref_s:.1f} s "
          f"(max|ref| {ref.abs().max().item():.3f})", flush=True)
    info = dict(config=config, seed=args.seed, psi=args.psi, batch=args.batch, params=params,
                ref_abs_max=ref.abs().max().item(), nvlabs_dir=str(args.nvlabs_dir), onnx=None)
    if "onnxruntime" in engines:
        print("setup: exporting the reference generator to ONNX ...", flush=True)
        with torch.inference_mode(False):
            info["onnx"] = export_onnx(G, args.batch, workdir / "generator.onnx")
        o = info["onnx"]
        if o["method"]:
            print(f"setup: ONNX export ({o['method']}) took {o['export_s']:.1f} s, {o['bytes'] / 1e6:.1f} MB", flush=True)
    (workdir / "setup.json").write_text(json.dumps(info, indent=2))
    return info


# ============================================================================================
# Workers (one engine, one fresh process)
# ============================================================================================

class Unavailable(Exception):
    """The engine cannot run here (reason in the message); not a failure of the run."""


def load_ours(engine: str, setup_info: dict, workdir: Path, threads: int, opts):
    from stylegan_fast.memory import keep_freed_memory

    kept = keep_freed_memory()  # before anything big is allocated, as the CLI does
    import numpy as np
    import torch
    import stylegan_fast
    from stylegan_fast.backends import BackendUnavailableError, backend_status, describe_dispatch

    torch.set_num_threads(threads)
    backend = OURS_BACKEND[engine]
    ok, reason = backend_status(backend, "cpu")
    if not ok:
        raise Unavailable(f"backend_status({backend!r}): {reason}")
    G = stylegan_fast.Generator.load(workdir / "weights.safetensors", backend=backend)
    z = torch.from_numpy(np.load(workdir / "z.npy"))
    psi = setup_info["psi"]

    def run():
        with torch.inference_mode():
            try:
                return G(z, truncation_psi=psi, noise_mode="const")
            except BackendUnavailableError as e:  # e.g. a kernel of the backend not written yet
                raise Unavailable(f"backend {backend!r}: {e}") from None

    settings = dict(backend=backend, keep_freed_memory=kept, torch_threads=torch.get_num_threads(),
                    torch=torch.__version__, dtype="float32")
    return run, settings, lambda: dict(ops_on=describe_dispatch(G.last_dispatch))


def _stub_requests() -> list:
    """NVlabs' dnnlib/util.py imports ``requests`` at the top, only to download URLs (open_url), which
    this benchmark never does; without the package installed, a stand-in that refuses every use."""
    import importlib.util
    import types

    if importlib.util.find_spec("requests") is not None:
        return []

    def _refuse(name):
        raise RuntimeError(f"requests.{name}: the requests package is not installed (stand-in for NVlabs' import)")

    stub = types.ModuleType("requests")
    stub.__getattr__ = _refuse
    sys.modules["requests"] = stub
    return ["requests is not installed: a stand-in module (raises on use) satisfies dnnlib's import; "
            "NVlabs uses it only to download URLs"]


def load_nvlabs(engine: str, setup_info: dict, workdir: Path, threads: int, opts):
    import numpy as np
    import torch

    _add_repo_to_path()
    from benchmarks.compare_nvlabs import build_nvlabs, import_nvlabs, run_nvlabs
    from stylegan_fast import checkpoints
    from stylegan_fast.checkpoints.nvlabs_pytorch import export_state_dict

    torch.set_num_threads(threads)
    nvlabs_dir = Path(setup_info["nvlabs_dir"])
    if not (nvlabs_dir / "training" / "networks.py").is_file():
        raise Unavailable(f"{nvlabs_dir} has no training/networks.py (fetch github:NVlabs/stylegan2-ada-pytorch "
                          f"and extract it there, or pass --nvlabs-dir)")
    stub_notes = _stub_requests()
    networks, notes = import_nvlabs(nvlabs_dir)
    notes = stub_notes + notes
    cfg = setup_info["config"]
    G = build_nvlabs(networks, cfg["resolution"], cfg["channel_base"], cfg["channel_max"], setup_info["seed"])
    ckpt = checkpoints.read(workdir / "weights.safetensors")
    # Our tensors under NVlabs' names (plus the [1, 3, 3, 1] filter buffers they keep), loaded strictly.
    G.load_state_dict(export_state_dict(ckpt.config, ckpt.tensors), strict=True)
    G = G.eval().requires_grad_(False)
    z = torch.from_numpy(np.load(workdir / "z.npy"))
    psi = setup_info["psi"]

    def run():
        with torch.inference_mode():
            return run_nvlabs(G, z, psi)

    settings = dict(keep_freed_memory=False, torch_threads=torch.get_num_threads(), torch=torch.__version__,
                    dtype="float32", num_fp16_res=0, impl="NVlabs pure-PyTorch ops on CPU", notes=notes)
    return run, settings, None


def load_onnxruntime(engine: str, setup_info: dict, workdir: Path, threads: int, opts):
    import numpy as np

    try:
        import onnxruntime as ort
    except ImportError as e:
        raise Unavailable(f"onnxruntime is not installed (pip install 'stylegan_fast[bench]'): {e}") from None
    onnx_info = setup_info.get("onnx") or {}
    if not onnx_info.get("method"):
        raise Unavailable(f"the ONNX export failed: {onnx_info.get('error') or 'not exported'}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry(ORT_SPIN_KEY, opts.ort_spinning)
    sess = ort.InferenceSession(str(workdir / onnx_info["file"]), sess_options=so, providers=["CPUExecutionProvider"])
    feeds = {"z": np.ascontiguousarray(np.load(workdir / "z.npy"), dtype=np.float32),
             "truncation_psi": np.array([setup_info["psi"]], dtype=np.float32)}

    def run():
        return sess.run(None, feeds)[0]

    settings = {"onnxruntime": ort.__version__, "providers": sess.get_providers(), "intra_op_num_threads": threads,
                "inter_op_num_threads": 1, "execution_mode": "sequential", "graph_optimization_level": "ORT_ENABLE_ALL",
                ORT_SPIN_KEY: opts.ort_spinning, "enable_cpu_mem_arena": so.enable_cpu_mem_arena,
                "enable_mem_pattern": so.enable_mem_pattern, "keep_freed_memory": False,
                "onnx_export": onnx_info.get("method")}
    return run, settings, None


LOADERS = {"ours-cpu": load_ours, "ours-reference": load_ours, "onnxruntime": load_onnxruntime, "nvlabs": load_nvlabs}


def _as_numpy(out):
    return out.detach().cpu().numpy() if hasattr(out, "detach") else out


def worker_main(args) -> int:
    """Load one engine, check its images, time it; the result goes to ``args.result`` as JSON."""
    import numpy as np

    workdir = Path(args.workdir)
    setup_info = json.loads((workdir / "setup.json").read_text())
    batch = setup_info["batch"]
    res = dict(engine=args.worker, status="ok", reason=None, pid=os.getpid(), calls=args.calls, batch=batch)
    try:
        start = time.perf_counter()
        run, settings, after_first = LOADERS[args.worker](args.worker, setup_info, workdir, args.threads, args)
        res["settings"] = settings
        res["load_s"] = time.perf_counter() - start

        ref = np.load(workdir / "ref.npy").astype(np.float64)
        start = time.perf_counter()
        out = _as_numpy(run())
        res["first_call_s"] = time.perf_counter() - start
        if after_first is not None:
            res.update(after_first())
        bound = TOLERANCE * max(1.0, float(np.abs(ref).max()))
        res["tolerance"] = bound
        if tuple(out.shape) != tuple(ref.shape):
            res.update(status="FAIL", reason=f"output shape {list(out.shape)}, expected {list(ref.shape)}")
            return 0
        out = out.astype(np.float64)
        res["max_abs_err"] = float(np.abs(out - ref).max())
        if not np.isfinite(out).all():
            res.update(status="FAIL", reason="non-finite output")
            return 0
        if not res["max_abs_err"] <= bound:
            res.update(status="FAIL", reason=f"max abs err {res['max_abs_err']:.3g} > {bound:.3g} "
                                             f"({TOLERANCE:g} x max(1, max|ref|))")
            return 0
        del out, ref

        times = []
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(args.calls):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        n = args.calls * batch
        med = statistics.median(times)
        res.update(times_s=times, median_s=med, img_per_s=batch / med,
                   minor_faults_per_img=(r1.ru_minflt - r0.ru_minflt) / n,
                   major_faults_per_img=(r1.ru_majflt - r0.ru_majflt) / n,
                   user_s_per_img=(r1.ru_utime - r0.ru_utime) / n, sys_s_per_img=(r1.ru_stime - r0.ru_stime) / n,
                   max_rss_mb=r1.ru_maxrss / 1024)
        return 0
    except (Unavailable, SystemExit) as e:  # import_nvlabs says why it cannot import with SystemExit
        res.update(status="unavailable", reason=str(e))
        return 0
    except Exception as e:  # noqa: BLE001 - reported as this engine's error, the run goes on
        res.update(status="error", reason=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-4000:])
        return 0
    finally:
        Path(args.result).write_text(json.dumps(res, indent=2))


# ============================================================================================
# Rounds (parent process)
# ============================================================================================

def run_worker(args, engine: str, workdir: Path, tag: str, ort_spinning: str) -> dict:
    result = workdir / f"result_{tag}_{engine}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--workdir", str(workdir),
           "--result", str(result), "--calls", str(args.calls), "--threads", str(args.threads),
           "--ort-spinning", ort_spinning]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.worker_timeout, cwd=str(REPO_ROOT))
    except subprocess.TimeoutExpired:
        return dict(engine=engine, status="error", reason=f"worker timed out after {args.worker_timeout} s")
    wall = time.perf_counter() - start
    if result.is_file():
        res = json.loads(result.read_text())
    else:
        tail = (proc.stderr or proc.stdout or "").strip()[-1500:]
        res = dict(engine=engine, status="error", reason=f"worker exited {proc.returncode} without a result: {tail}")
    res["worker_wall_s"] = wall
    return res


def describe(res: dict) -> str:
    if res["status"] != "ok":
        err = f" (max err {res['max_abs_err']:.2e})" if res.get("max_abs_err") is not None else ""
        return f"{res['status']}{err}: {res['reason']}"
    return (f"{res['img_per_s']:.3f} img/s (median of {len(res['times_s'])}: {res['median_s'] * 1e3:.0f} ms/call), "
            f"{res['minor_faults_per_img']:.0f} minor faults/img, max err {res['max_abs_err']:.2e}, "
            f"load {res['load_s']:.1f} s")


def calibrate_ort(args, workdir: Path) -> dict:
    """One worker with spin-waiting on, one with it off; spinning goes off only if that is not slower."""
    runs = {}
    for spin in ("1", "0"):
        res = run_worker(args, "onnxruntime", workdir, f"ortspin{spin}", spin)
        runs[spin] = res
        print(f"  onnxruntime, {ORT_SPIN_KEY}={spin}: {describe(res)}", flush=True)
    speed = {s: (r["img_per_s"] if r["status"] == "ok" else None) for s, r in runs.items()}
    if speed["0"] is not None and (speed["1"] is None or speed["0"] >= speed["1"]):
        chosen = "0"
    elif speed["1"] is not None:
        chosen = "1"
    else:
        chosen = "1"  # neither ran; the rounds will report why
    return dict(chosen=chosen, img_per_s={f"allow_spinning={s}": v for s, v in speed.items()},
                runs={f"allow_spinning={s}": r for s, r in runs.items()})


def summarize(engines, rounds_results) -> list[dict]:
    """One row per engine over its rounds; ratios are of medians over rounds."""
    rows = []
    for engine in engines:
        results = [r[engine] for r in rounds_results if engine in r]
        ok = [r for r in results if r["status"] == "ok"]
        row = dict(engine=engine, rounds=len(results), settings=(ok or results or [{}])[0].get("settings"))
        if ok:
            ips = [r["img_per_s"] for r in ok]
            row.update(status="ok", img_per_s=statistics.median(ips), img_per_s_min=min(ips), img_per_s_max=max(ips),
                       img_per_s_rounds=ips,
                       minor_faults_per_img=statistics.median(r["minor_faults_per_img"] for r in ok),
                       sys_s_per_img=statistics.median(r["sys_s_per_img"] for r in ok),
                       user_s_per_img=statistics.median(r["user_s_per_img"] for r in ok),
                       max_abs_err=max(r["max_abs_err"] for r in ok), tolerance=ok[0]["tolerance"],
                       load_s=statistics.median(r["load_s"] for r in ok),
                       max_rss_mb=max(r["max_rss_mb"] for r in ok), ops_on=ok[0].get("ops_on"))
            bad = [r for r in results if r["status"] != "ok"]
            if bad:
                row["other_rounds"] = [dict(status=r["status"], reason=r["reason"]) for r in bad]
        else:
            last = results[-1] if results else dict(status="error", reason="never ran")
            row.update(status=last["status"], reason=last["reason"], max_abs_err=last.get("max_abs_err"))
        rows.append(row)
    by = {r["engine"]: r for r in rows}
    base = by.get(BASELINE)
    for r in rows:
        if r["status"] == "ok" and base and base["status"] == "ok":
            r["x_ours_reference"] = r["img_per_s"] / base["img_per_s"]
    head = by.get(HEADLINE)
    if head and head["status"] == "ok":
        for r in rows:
            if r["engine"] == HEADLINE or r["status"] != "ok":
                continue
            r["ours_cpu_over_this"] = head["img_per_s"] / r["img_per_s"]
            # also paired by round (neighbours in time), less exposed to drift across the run
            paired = [rr[HEADLINE]["img_per_s"] / rr[r["engine"]]["img_per_s"] for rr in rounds_results
                      if rr.get(HEADLINE, {}).get("status") == "ok" and rr.get(r["engine"], {}).get("status") == "ok"]
            if paired:
                r["ours_cpu_over_this_paired_median"] = statistics.median(paired)
    return rows


def format_table(rows) -> str:
    head = ["engine", "img/s (min-max)", f"x {BASELINE}", "page faults/img", "CPU-s/img", "max err"]
    body, notes = [], {}
    for r in rows:
        if r["status"] == "ok":
            cells = [r["engine"], f"{r['img_per_s']:.3f} ({r['img_per_s_min']:.3f}-{r['img_per_s_max']:.3f})",
                     f"{r['x_ours_reference']:.2f}x" if "x_ours_reference" in r else "-",
                     f"{r['minor_faults_per_img']:.0f}", f"{r['user_s_per_img'] + r['sys_s_per_img']:.2f}",
                     f"{r['max_abs_err']:.2e}"]
        else:
            err = "-" if r.get("max_abs_err") is None else f"{r['max_abs_err']:.2e}"
            cells = [r["engine"], r["status"], "-", "-", "-", err]
            notes[len(body)] = r["reason"]
        body.append(cells)
    widths = [max(len(head[i]), *(len(c[i]) for c in body)) for i in range(len(head))]
    fmt = lambda cells: " | ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    lines = [fmt(head), "-+-".join("-" * w for w in widths)]
    for i, cells in enumerate(body):
        lines.append(fmt(cells) + (f"   {notes[i]}" if i in notes else ""))
    return "\n".join(lines)


def headline(rows) -> str:
    by = {r["engine"]: r for r in rows}
    head = by.get(HEADLINE)
    if head is None:
        return f"{HEADLINE}: not requested"
    if head["status"] != "ok":
        return f"{HEADLINE}: {head['status']} ({head.get('reason')})"
    parts = [f"{r['ours_cpu_over_this']:.2f}x {r['engine']}" for r in rows if "ours_cpu_over_this" in r]
    return f"{HEADLINE}: " + (", ".join(parts) if parts else "no other engine ran")


def machine_info(threads: int) -> dict:
    _add_repo_to_path()
    import torch
    from stylegan_fast.bench import machine_info as sgf_machine_info
    from stylegan_fast.version import __version__

    info = sgf_machine_info("cpu")
    info.update(threads=threads, stylegan_fast=__version__,
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                hostname=platform.node(), torch=torch.__version__)
    for mod in ("onnxruntime", "onnx", "onnxscript", "numpy"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info


def parse_engines(text: str) -> list[str]:
    engines = list(dict.fromkeys(e.strip() for e in text.split(",") if e.strip()))
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise SystemExit(f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES)}")
    return engines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--channel-base", type=int, default=16384)
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {','.join(ENGINES)}")
    p.add_argument("--rounds", type=int, default=3, help="fresh processes per engine, order alternating")
    p.add_argument("--calls", type=int, default=3, help="timed calls per worker (median), after one warm-up call")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="torch threads / ONNX Runtime intra-op threads (default: all CPUs)")
    p.add_argument("--psi", type=float, default=1.0,
                   help="truncation psi (default 1; w_avg only enters the images for psi != 1)")
    p.add_argument("--seed", type=int, default=0, help="weights and latents seed")
    p.add_argument("--nvlabs-dir", type=Path, default=DEFAULT_NVLABS_DIR,
                   help="extracted stylegan2-ada-pytorch (default: third_party_ref/stylegan2-ada-pytorch)")
    p.add_argument("--ort-spinning", choices=("auto", "0", "1"), default="auto",
                   help=f"ONNX Runtime {ORT_SPIN_KEY}: auto (measure both, keep the faster) or fixed")
    p.add_argument("--worker-timeout", type=float, default=3600, help="seconds before a worker is killed")
    p.add_argument("--keep-workdir", action="store_true", help="keep the temp dir (weights, ONNX, worker JSON)")
    p.add_argument("--json", type=Path, help="write rows, rounds and machine info here")
    # internal: one engine in this process
    p.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        _add_repo_to_path()
        return worker_main(args)
    engines = parse_engines(args.engines)
    if args.rounds < 1 or args.calls < 1 or args.batch < 1 or args.threads < 1:
        raise SystemExit("--rounds, --calls, --batch and --threads must be >= 1")
    args.nvlabs_dir = args.nvlabs_dir.resolve()
    _add_repo_to_path()

    machine = machine_info(args.threads)
    print(f"{machine['device_name']}, {machine['cpu_count']} CPUs, {args.threads} threads; torch {machine['torch']}, "
          f"onnxruntime {machine['onnxruntime']}; load average {os.getloadavg()[0]:.2f}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="sgf_cpu_engines_"))
    t_start = time.perf_counter()
    try:
        setup_info = setup(args, workdir, engines)
        import gc

        gc.collect()

        ort_calibration = None
        ort_spinning = "1" if args.ort_spinning == "auto" else args.ort_spinning
        if "onnxruntime" in engines and args.ort_spinning == "auto" and (setup_info["onnx"] or {}).get("method"):
            print(f"ONNX Runtime: measuring {ORT_SPIN_KEY} = 1 and 0 once ...", flush=True)
            ort_calibration = calibrate_ort(args, workdir)
            ort_spinning = ort_calibration["chosen"]
            print(f"ONNX Runtime: keeping {ORT_SPIN_KEY} = {ort_spinning}", flush=True)

        rounds_results, loads = [], []
        skip = {}  # engine -> status that makes more rounds pointless (unavailable, FAIL, error)
        for rnd in range(args.rounds):
            order = engines if rnd % 2 == 0 else engines[::-1]
            print(f"round {rnd + 1}/{args.rounds}: {' '.join(order)}", flush=True)
            this = {}
            for engine in order:
                if engine in skip:
                    continue
                loads.append(os.getloadavg()[0])
                res = run_worker(args, engine, workdir, f"r{rnd}", ort_spinning)
                res["round"], res["position"] = rnd, order.index(engine)
                this[engine] = res
                print(f"  {engine:<15} {describe(res)}", flush=True)
                if res["status"] != "ok":
                    skip[engine] = res["status"]
            rounds_results.append(this)
        loads.append(os.getloadavg()[0])

        rows = summarize(engines, rounds_results)
        print()
        print(f"stylegan2 {args.resolution}px, channel_base {args.channel_base}, batch {args.batch}, fp32, "
              f"{args.threads} threads; median img/s over {args.rounds} rounds (fresh process each), "
              f"{args.calls} timed calls per process")
        print(format_table(rows))
        print(headline(rows))
        kept = [r["engine"] for r in rows if r["status"] == "ok" and r["settings"].get("keep_freed_memory")]
        print(f"keep_freed_memory on in: {', '.join(kept) or 'none'}; ONNX Runtime {ORT_SPIN_KEY} = {ort_spinning}"
              + (f" (measured: {ort_calibration['img_per_s']})" if ort_calibration else " (fixed by --ort-spinning)"
                 if "onnxruntime" in engines else ""))
        print(f"load average (1 min) during the rounds: {min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} CPUs; "
              f"total {time.perf_counter() - t_start:.0f} s")

        if args.json:
            out = dict(benchmark="cpu_engines", machine=machine,
                       config=dict(**setup_info["config"], batch=args.batch, psi=args.psi, seed=args.seed,
                                   dtype="float32", noise_mode="const", rounds=args.rounds, calls=args.calls,
                                   threads=args.threads, tolerance_rel=TOLERANCE, engines=engines),
                       rows=rows, headline=headline(rows), onnx_export=setup_info["onnx"],
                       ort_settings=dict(chosen={ORT_SPIN_KEY: ort_spinning}, mode=args.ort_spinning,
                                         calibration=ort_calibration),
                       keep_freed_memory={r["engine"]: bool((r.get("settings") or {}).get("keep_freed_memory"))
                                          for r in rows if r.get("settings")},
                       rounds=rounds_results, loadavg_1min=loads, total_s=time.perf_counter() - t_start)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=2))
            print(f"wrote {args.json}")
        return 1 if any(r["status"] in ("FAIL", "error") for r in rows) else 0
    finally:
        if args.keep_workdir:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
