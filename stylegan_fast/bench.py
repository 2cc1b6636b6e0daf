"""Generator throughput per backend, checked against the reference backend first.

    python -m stylegan_fast.bench                          # stylegan2+stylegan1, 256 px, batch 1,8, fp32
    python -m stylegan_fast.bench --arch stylegan2 --batch 4 --channel-base 16384 --json out.json
    python -m stylegan_fast.bench --quick                  # tiny configs: a smoke test in seconds
    python -m stylegan_fast.bench --device cuda --backend reference,triton --compile --cuda-graph   # + rows
    python -m stylegan_fast.bench --end-to-end --backend reference,cpu   # built-in model: generator vs files

For every (arch, resolution, batch, dtype) one seeded generator is built (paper-sized
channels by default) and every requested backend is run on the same latents:

1. correctness: the backend's images against the reference backend's images (max abs
   error, bounded by ``tol * max(1, max|reference|)`` for the dtype); a backend out of
   tolerance is a FAIL row and is not timed;
2. timing: ``torch.inference_mode``, warm-up calls, then the median of ``--repeats``
   calls (``torch.cuda.synchronize`` around each on CUDA).

``--compile`` adds a row ``<backend>+torch.compile`` per requested backend but "auto":
``torch.compile(G, fullgraph=True)`` on that backend (the reference is traced through; a kernel
backend's ops run as opaque custom ops, ``ops/custom_ops.py``). ``--cuda-graph`` adds a row
``<backend>+cuda_graph`` likewise: ``G.compile_graph(batch)``, the whole forward replayed from a CUDA
graph (on CUDA only; elsewhere the row is unavailable with the reason). Both are checked and timed
the same way; their compiling or capture happens in the correctness call, is reported as
``compile_s`` and is not timed.

``x reference`` is img/s of the backend over img/s of the reference backend for the same
config in the same run; only ratios from one run are meaningful (CPU timings are noisy).
Backends that cannot run here (``stylegan_fast.backend_status``) are listed with the reason.
The exit status is 1 if any row FAILs, else 0.

``--end-to-end`` measures the render pipeline instead (``stylegan_fast.pipeline``), on the built-in
model or ``--network``: per backend, *generator only* is the pipeline without files (generation,
uint8 conversion, copy to the host) and *end to end* renders the same seeds to PNG files in a
temporary folder (encoding on ``--workers`` threads); the two are measured alternately, each the
median of ``--repeats`` runs of ``--images`` images. ``e2e/gen`` (how much of the generator's
speed survives writing the files) is the median of the ratios of the two runs of each round, which
are back to back, so slow drifts of a shared machine's load cancel; ``encode CPU ms/img`` is the
CPU time (all threads) that encoding and writing add per image.
"""
from __future__ import annotations

import argparse
import itertools
import copy
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import torch

from .backends import BACKENDS, backend_status, describe_dispatch, resolve_backend
from .config import ARCHS, DTYPES as DTYPE_NAMES
from .generator import Generator
from .memory import keep_freed_memory

DTYPES = {name: getattr(torch, attr) for name, attr in DTYPE_NAMES.items()}
# Relative bound on max|images - reference images|, times max(1, max|reference images|).
# Whole-generator outputs go through ~15 layers, so these are looser than the per-op test table.
TOLERANCES = {"fp32": 1e-3, "fp16": 5e-2, "bf16": 1.5e-1}
# Order in which backends are listed; "reference" always runs (it is the baseline).
BACKEND_ORDER = ("reference", "auto", "cpu", "triton", "cuda")
DEFAULT_SEED = 0
COMPILED, GRAPHED = "torch.compile", "cuda_graph"  # rows "<backend>+<mode>" of --compile, --cuda-graph
MODE_BACKENDS = ("reference", "cpu", "triton", "cuda")  # the backends those rows are added for
PROG = "python -m stylegan_fast.bench"

QUICK = dict(arch="stylegan2,stylegan1", resolution="32", batch="1,2", dtype="fp32", channel_base=512,
             channel_max=64, repeats=5, warmup=1)
FULL = dict(arch="stylegan2,stylegan1", resolution="256", batch="1,8", dtype="fp32", channel_base=None,
            channel_max=512, repeats=3, warmup=1)


def paper_channel_base(resolution: int) -> int:
    """NVlabs' paper configs: 'paper256' uses channel_base 16384, 'paper512'/'paper1024' 32768."""
    return 16384 if resolution <= 256 else 32768


def build_generator(arch: str = "stylegan2", resolution: int = 256, channel_base: Optional[int] = None,
                    channel_max: int = 512, seed: int = DEFAULT_SEED, device="cpu",
                    dtype: torch.dtype = torch.float32) -> Generator:
    """A seeded, untrained generator in eval mode (same weights for the same arguments)."""
    if channel_base is None:
        channel_base = paper_channel_base(resolution)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = Generator.from_config(arch=arch, resolution=resolution, channel_base=channel_base,
                                  channel_max=channel_max, backend="reference")
    return G.to(device=device, dtype=dtype).eval().requires_grad_(False)


def make_latents(batch: int, z_dim: int, seed: int = DEFAULT_SEED, device="cpu") -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed + 1)
    return torch.randn([batch, z_dim], generator=gen).to(device)


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn, device, warmup: int, repeats: int) -> list[float]:
    """Seconds per call of ``fn()`` for ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def max_abs_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def machine_info(device) -> dict:
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("model name"):
                        name = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
    return {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "device": str(device), "device_name": name, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "cuda": torch.version.cuda,
            "stylegan_fast_backend_env": os.environ.get("STYLEGAN_FAST_BACKEND")}


@dataclass
class Row:
    arch: str
    resolution: int
    batch: int
    dtype: str
    backend: str
    status: str = "ok"  # ok | FAIL | unavailable | error
    resolved_backend: Optional[str] = None
    reason: Optional[str] = None
    img_per_s: Optional[float] = None
    ms_per_call: Optional[float] = None
    times_s: list = field(default_factory=list)
    x_reference: Optional[float] = None
    max_abs_err: Optional[float] = None
    tolerance: Optional[float] = None
    ops_on: Optional[str] = None  # where each op ran (describe_dispatch of G.last_dispatch)
    compile_s: Optional[float] = None  # "+torch.compile" / "+cuda_graph" rows: seconds compiling or capturing


def bench_config(G32: Generator, arch: str, resolution: int, batch: int, dtype_name: str, backends: Sequence[str],
                 device, warmup: int, repeats: int, tol: float, seed: int, log=print) -> list[Row]:
    """Rows for one (generator, batch, dtype): reference first, then the other backends.

    All backends are checked first; then warm-up and timed calls are interleaved round-robin
    over the backends, so that drifting machine load affects all of them alike.
    """
    G = copy.deepcopy(G32).to(DTYPES[dtype_name]) if dtype_name != "fp32" else G32
    z = make_latents(batch, G.z_dim, seed, device)
    rows, ref_out, out, runnable, made = [], None, None, [], {}
    if any(row_mode(name) == COMPILED for name in backends):
        import torch._dynamo

        torch._dynamo.reset()  # each config compiles afresh (no recompile limit reached across configs)

    def model(name):  # the callable of a row, on its backend
        backend, mode = name.partition("+")[::2]
        G.backend = backend
        if mode and name not in made:
            made[name] = torch.compile(G, fullgraph=True) if mode == COMPILED else G.compile_graph(batch)
        return made.get(name, G)

    with torch.inference_mode():
        for name in backends:
            row = Row(arch, resolution, batch, dtype_name, name, tolerance=tol)
            rows.append(row)
            ok, reason = row_status(name, device)
            if not ok:
                row.status, row.reason = "unavailable", reason
                continue
            try:
                row.resolved_backend = None if row_mode(name) else resolve_backend(name, device)
                start = time.perf_counter()
                out = model(name)(z)
                synchronize(device)
                if row_mode(name):
                    row.compile_s = time.perf_counter() - start
                row.ops_on = describe_dispatch(getattr(made.get(name), "last_dispatch", G.last_dispatch))
            except Exception as e:  # noqa: BLE001 - one broken backend must not hide the others' rows
                row.status, row.reason = "error", f"{type(e).__name__}: {e}"
                continue
            if name == "reference":
                ref_out = out
            elif ref_out is None:
                row.status, row.reason = "error", "no reference output to check against"
                continue
            row.max_abs_err = max_abs_err(out, ref_out)
            bound = tol * max(1.0, ref_out.double().abs().max().item())
            if not torch.isfinite(out).all():
                row.status, row.reason = "FAIL", "non-finite output"
            elif not row.max_abs_err <= bound:
                row.status = "FAIL"
                row.reason = f"max abs err {row.max_abs_err:.3g} > {bound:.3g} (tol {tol:g} x max(1, max|ref|))"
            else:
                runnable.append(row)
        out = ref_out = None  # free the images before timing

        def call(row):
            model(row.backend)(z)

        for i in range(warmup + repeats):
            for row in runnable:
                if row.status != "ok":
                    continue
                try:
                    t = time_calls(lambda: call(row), device, 0, 1)[0]
                except Exception as e:  # noqa: BLE001
                    row.status, row.reason = "error", f"{type(e).__name__}: {e}"
                    continue
                if i >= warmup:
                    row.times_s.append(t)
    G32.backend = "reference"
    ref_ips = None
    for row in runnable:
        if row.status != "ok":
            continue
        row.ms_per_call = statistics.median(row.times_s) * 1e3
        row.img_per_s = batch / (row.ms_per_call / 1e3)
        if row.backend == "reference":
            ref_ips = row.img_per_s
        row.x_reference = row.img_per_s / ref_ips if ref_ips else None
        log(f"  {arch} {resolution}px batch {batch} {dtype_name} {row.backend}: {row.img_per_s:.3f} img/s "
            f"(median of {repeats}: {row.ms_per_call:.1f} ms/call)")
    return rows


def row_mode(name: str) -> str:
    """"" for a backend's row, else how it runs: COMPILED or GRAPHED."""
    return name.partition("+")[2]


def row_status(name: str, device) -> tuple[bool, str]:
    """Whether the row ``name`` ("<backend>" or "<backend>+<mode>") can run on ``device``, and why not."""
    backend, mode = name.partition("+")[::2]
    if mode == GRAPHED and torch.device(device).type != "cuda":
        return False, f"CUDA graphs need a CUDA device; got {torch.device(device).type}"
    return backend_status(backend, device)


def format_table(rows: Sequence[Row]) -> str:
    head = ["arch", "res", "batch", "dtype", "backend", "img/s", "x reference", "max err", "ops ran on"]
    body, notes = [], {}
    for r in rows:
        backend = r.backend if r.resolved_backend in (None, r.backend) else f"{r.backend} ({r.resolved_backend})"
        cells = [r.arch, str(r.resolution), str(r.batch), r.dtype, backend]
        if r.status == "ok":
            cells += [f"{r.img_per_s:.3f}", f"{r.x_reference:.2f}x" if r.x_reference else "-",
                      f"{r.max_abs_err:.2e}", r.ops_on or "-"]
        elif r.status == "unavailable":
            notes[len(body)] = f"unavailable: {r.reason}"
        else:
            err = "-" if r.max_abs_err is None else f"{r.max_abs_err:.2e}"
            cells += [r.status, "-", err, r.ops_on or "-"]
            notes[len(body)] = f"{r.status}: {r.reason}"
        body.append(cells)
    widths = [max([len(head[i])] + [len(c[i]) for c in body if i < len(c)]) for i in range(len(head))]
    right = {1, 2, 5, 6, 7}

    def fmt(cells):
        out = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return " | ".join(out)

    lines = [fmt(head), "-+-".join("-" * w for w in widths)]
    for i, cells in enumerate(body):
        line = fmt(cells)
        if i in notes:
            line = (line + " | " if len(cells) < len(head) else line + "   ") + notes[i]
        lines.append(line.rstrip())
    return "\n".join(lines)


@dataclass
class EndToEndRow:
    backend: str
    batch: int
    dtype: str
    images: int
    status: str = "ok"  # ok | unavailable | error
    resolved_backend: Optional[str] = None
    reason: Optional[str] = None
    generator_img_per_s: Optional[float] = None
    end_to_end_img_per_s: Optional[float] = None
    ratio: Optional[float] = None  # end_to_end / generator img/s: the median of the rounds' ratios
    encode_cpu_ms: Optional[float] = None  # extra CPU time (all threads) per image end to end: encoding and writing
    generator_times_s: list = field(default_factory=list)
    end_to_end_times_s: list = field(default_factory=list)
    generator_cpu_s: list = field(default_factory=list)
    end_to_end_cpu_s: list = field(default_factory=list)
    ops_on: Optional[str] = None


def bench_end_to_end(G: Generator, backends: Sequence[str], device, batch: int, dtype_name: str, images: int,
                     warmup: int, repeats: int, workers: Optional[int] = None, format: str = "png",
                     png_compression="rle", outdir=None, log=print) -> list[EndToEndRow]:
    """Generator-only and end-to-end img/s of the render pipeline per backend, measured alternately.

    The files go to a temporary folder inside ``outdir`` (default: the current directory, where ``render``
    writes by default; the system's temporary folder if that is not writable), removed at the end (not
    between runs: see below).
    """
    import shutil
    import tempfile

    from .pipeline import run_pipeline, seed_stems, seeds_generator

    G = copy.deepcopy(G).to(DTYPES[dtype_name]) if dtype_name != "fp32" else G
    seeds = list(range(images))
    c = None
    if G.c_dim:
        c = torch.zeros([1, G.c_dim], device=device)
        c[0, 0] = 1
    generate = seeds_generator(G, seeds, c=c, device=device)
    rows, runnable = [], []
    for name in backends:
        row = EndToEndRow(name, batch, dtype_name, images)
        rows.append(row)
        ok, reason = backend_status(name, device)
        if not ok:
            row.status, row.reason = "unavailable", reason
        else:
            row.resolved_backend = resolve_backend(name, device)
            runnable.append(row)
    try:
        tmp = tempfile.mkdtemp(prefix=".stylegan-fast-bench-", dir=outdir or os.getcwd())
    except OSError:
        if outdir:
            raise
        tmp = tempfile.mkdtemp(prefix="stylegan-fast-bench-")
    try:
        for i in range(warmup + repeats):
            for row in runnable:
                if row.status != "ok":
                    continue
                G.backend = row.backend
                # alternate which goes first, so that neither always follows the other
                kinds = ("generator", "end_to_end") if i % 2 == 0 else ("end_to_end", "generator")
                try:
                    for kind in kinds:
                        outdir = os.path.join(tmp, f"{row.backend}-{i}")
                        synchronize(device)
                        start, cpu_start = time.perf_counter(), time.process_time()
                        run_pipeline(generate, seed_stems(seeds), outdir, batch_size=batch, format=format,
                                     write=kind == "end_to_end", workers=workers,
                                     png_compression=png_compression, log=lambda _: None)
                        synchronize(device)
                        t, cpu = time.perf_counter() - start, time.process_time() - cpu_start
                        # the files stay until the end: deleting thousands of files slows the next creations
                        # on ext4 for a while (it skips recently deleted inodes), which a real render does
                        # not meet
                        if i >= warmup:
                            gen = kind == "generator"
                            (row.generator_times_s if gen else row.end_to_end_times_s).append(t)
                            (row.generator_cpu_s if gen else row.end_to_end_cpu_s).append(cpu)
                    row.ops_on = describe_dispatch(G.last_dispatch)
                except Exception as e:  # noqa: BLE001 - one broken backend must not hide the others' rows
                    row.status, row.reason = "error", f"{type(e).__name__}: {e}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        G.backend = "reference"
    for row in runnable:
        if row.status != "ok":
            continue
        row.generator_img_per_s = images / statistics.median(row.generator_times_s)
        row.end_to_end_img_per_s = images / statistics.median(row.end_to_end_times_s)
        # each round's two runs are back to back: their ratio is less disturbed by drifting machine load
        row.ratio = statistics.median(g / e for g, e in zip(row.generator_times_s, row.end_to_end_times_s))
        row.encode_cpu_ms = (statistics.median(row.end_to_end_cpu_s) - statistics.median(row.generator_cpu_s)) \
            / images * 1e3
        log(f"  {row.backend} batch {batch} {dtype_name}: generator {row.generator_img_per_s:.2f} img/s, "
            f"end to end {row.end_to_end_img_per_s:.2f} img/s (e2e/gen {row.ratio:.0%}; "
            f"encoding {row.encode_cpu_ms:.1f} CPU ms/img)")
    return rows


def format_end_to_end_table(rows: Sequence[EndToEndRow], format: str = "png") -> str:
    head = ["backend", "batch", "dtype", "images", "generator img/s", f"end-to-end ({format}) img/s", "e2e/gen",
            "encode CPU ms/img", "ops ran on"]
    body = []
    for r in rows:
        backend = r.backend if r.resolved_backend in (None, r.backend) else f"{r.backend} ({r.resolved_backend})"
        cells = [backend, str(r.batch), r.dtype, str(r.images)]
        if r.status == "ok":
            cells += [f"{r.generator_img_per_s:.2f}", f"{r.end_to_end_img_per_s:.2f}", f"{r.ratio:.0%}",
                      f"{r.encode_cpu_ms:.1f}", r.ops_on or "-"]
        else:
            cells += ["-", "-", "-", "-", f"{r.status}: {r.reason}"]
        body.append(cells)
    widths = [max([len(head[i])] + [len(c[i]) for c in body]) for i in range(len(head))]
    right = {1, 3, 4, 5, 6, 7}

    def fmt(cells):
        return " | ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells))

    return "\n".join([fmt(head), "-+-".join("-" * w for w in widths)] + [fmt(c).rstrip() for c in body])


def main_end_to_end(args, info) -> int:
    from .models import DEFAULT_MODEL_NOTE, default_model

    if args.network:
        try:
            G = Generator.load(args.network, device=args.device, backend="reference")
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        what = args.network
    else:
        G = default_model(device=args.device, backend="reference")
        what = DEFAULT_MODEL_NOTE
    level = "rle" if args.png_compression is None else args.png_compression
    print(f"end to end: {what}: {G.arch} {G.img_resolution}px; {args.images} images per run, "
          f"warm-up {args.warmup} + median of {args.repeats}, workers {args.workers or 'default'}, "
          f"PNG compression {level}, files under {args.outdir or 'the current directory'}", flush=True)
    rows: list[EndToEndRow] = []
    backends = [b for b in args.backend if not row_mode(b)]
    for dtype_name in args.dtype:
        for batch in args.batch:
            rows += bench_end_to_end(G, backends, args.device, batch, dtype_name, args.images, args.warmup,
                                     args.repeats, args.workers, png_compression=level, outdir=args.outdir,
                                     log=lambda s: print(s, flush=True))
    print()
    print(format_end_to_end_table(rows))
    print("\ngenerator: the pipeline without files (generate, to uint8, copy to the host); end-to-end: the same "
          "seeds written as PNG files (img/s: medians of the runs); e2e/gen: the median over the rounds of "
          "end-to-end over generator img/s, the two measured back to back; encode CPU ms/img: the extra CPU time "
          "(all threads) end to end, per image.")
    if args.json:
        write_json(args.json, info, args, "end_to_end", rows)
    return 1 if any(r.status == "error" for r in rows) else 0


def write_json(path, info: dict, args: argparse.Namespace, key: str, rows) -> None:
    """--json: the machine, the settings and the rows (under ``key``), written atomically."""
    from .fileio import atomic_path

    settings = {k: (str(v) if isinstance(v, torch.device) else v) for k, v in vars(args).items() if k != "json"}
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"machine": info, "settings": settings, key: [asdict(r) for r in rows]}, f, indent=2)
    print(f"wrote {path}")


def _csv(value, kind=str):
    return [kind(v.strip()) for v in str(value).split(",") if v.strip()]


def png_compression_arg(value: str):
    from .images import check_png_compression

    try:
        return check_png_compression(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command line of the benchmark (also behind ``stylegan-fast bench``, with that ``prog``)."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"examples:\n  {prog} --quick\n  {prog} --arch stylegan2 --batch 8 --json out.json\n"
                                       f"  {prog} --end-to-end --backend reference,cpu --batch 32   "
                                       f"# generator vs PNG files, built-in model")
    p.add_argument("--arch", help=f"comma-separated, from {','.join(ARCHS)} (default: both)")
    p.add_argument("--resolution", help="comma-separated output resolutions (default 256; --quick: 32)")
    p.add_argument("--batch", help="comma-separated batch sizes (default 1,8; --quick: 1,2)")
    p.add_argument("--dtype", help=f"comma-separated, from {','.join(DTYPES)} (default fp32)")
    p.add_argument("--backend", default="all",
                   help=f"comma-separated, from {','.join(BACKENDS)}, or 'all' (default); reference always runs")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--channel-base", type=int,
                   help="default: paper-sized, 16384 up to 256 px (NVlabs paper256), else 32768; --quick: 512")
    p.add_argument("--channel-max", type=int, help="default 512; --quick: 64")
    p.add_argument("--repeats", type=int, help="timed calls per row, median reported (default 3)")
    p.add_argument("--warmup", type=int, help="untimed calls per backend after the correctness call (default 1)")
    p.add_argument("--tol", type=float, help="override the correctness tolerance "
                   f"(relative to max(1, max|reference|); defaults {TOLERANCES})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="weights and latents seed (default 0)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--json", metavar="PATH", help="also write rows and machine info as JSON")
    p.add_argument("--compile", action="store_true",
                   help=f"add a row '<backend>+{COMPILED}' per backend: torch.compile(G, fullgraph=True) on it")
    p.add_argument("--cuda-graph", action="store_true",
                   help=f"add a row '<backend>+{GRAPHED}' per backend: G.compile_graph(batch), the forward replayed "
                        f"from a CUDA graph (CUDA only)")
    p.add_argument("--quick", action="store_true", help="tiny configs for a smoke test")
    e2e = p.add_argument_group("end to end (--end-to-end)")
    e2e.add_argument("--end-to-end", action="store_true",
                     help="generator-only vs end-to-end (PNG files through the render pipeline) img/s per backend, "
                          "on the built-in model or --network (default batch 32)")
    e2e.add_argument("--network", metavar="PATH", help="--end-to-end: this generator file instead of the built-in model")
    e2e.add_argument("--images", type=int, help="--end-to-end: images per timed run (default 128; --quick: 8)")
    e2e.add_argument("--workers", type=int, help="--end-to-end: encoder threads (default: the pipeline's)")
    e2e.add_argument("--png-compression", type=png_compression_arg, metavar="rle|0-9",
                     help="--end-to-end: PNG compression of the files, as render's (default: rle)")
    e2e.add_argument("--outdir", metavar="DIR",
                     help="--end-to-end: write the timed runs' files in a temporary folder inside DIR, removed "
                          "after (default: the current directory, where render writes; creating files costs "
                          "very different amounts on different file systems)")
    return p


def parse_args(argv=None, prog: str = PROG) -> argparse.Namespace:
    p = build_parser(prog)
    args = p.parse_args(argv)
    if args.end_to_end:
        given = [o for o, v in (("--arch", args.arch), ("--resolution", args.resolution),
                                ("--channel-base", args.channel_base), ("--channel-max", args.channel_max),
                                ("--compile", args.compile), ("--cuda-graph", args.cuda_graph)) if v]
        if given:
            p.error(f"--end-to-end renders the built-in model or --network: {', '.join(given)} does not apply")
        args.batch = args.batch or ("4" if args.quick else "32")
        args.images = args.images or (8 if args.quick else 128)
        args.repeats = args.repeats or (1 if args.quick else 3)
        if args.images < 1 or (args.workers is not None and args.workers < 1):
            p.error("--images and --workers must be >= 1")
    elif args.network or args.images or args.workers or args.png_compression is not None or args.outdir:
        p.error("--network, --images, --workers, --png-compression and --outdir go with --end-to-end")
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        args.arch = _csv(args.arch)
        args.batch = _csv(args.batch, int)
        args.resolution = _csv(args.resolution, int)
        args.dtype = _csv(args.dtype)
        backends = BACKEND_ORDER if args.backend == "all" else _csv(args.backend)
    except ValueError as e:
        p.error(str(e))
    for a in args.arch:
        if a not in ARCHS:
            p.error(f"unknown arch {a!r}; choose from {', '.join(ARCHS)}")
    for d in args.dtype:
        if d not in DTYPES:
            p.error(f"unknown dtype {d!r}; choose from {', '.join(DTYPES)}")
    for b in backends:
        if b not in BACKENDS:
            p.error(f"unknown backend {b!r}; choose from {', '.join(BACKENDS)} or 'all'")
    if any(b < 1 for b in args.batch) or args.repeats < 1 or args.warmup < 0:
        p.error("batch sizes and --repeats must be >= 1, --warmup >= 0")
    # reference first (the baseline), then the rest in a stable order without duplicates
    args.backend = ["reference"] + [b for b in dict.fromkeys(backends) if b != "reference"]
    for flag, mode in ((args.compile, COMPILED), (args.cuda_graph, GRAPHED)):
        if flag:
            args.backend += [f"{b}+{mode}" for b in args.backend if b in MODE_BACKENDS]
    try:
        args.device = torch.device(args.device)
    except RuntimeError as e:
        p.error(str(e))
    if args.device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but torch.cuda.is_available() is False")
    return args


def main(argv=None, prog: str = PROG) -> int:
    args = parse_args(argv, prog)
    kept = keep_freed_memory()  # as the command line does (stylegan_fast.memory)
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info(args.device)
    print(f"stylegan_fast bench: torch {info['torch']}, {info['device']} ({info['device_name']}), "
          f"{info['threads']} threads; " + ("" if args.end_to_end else f"channel_max {args.channel_max}, ") +
          f"warm-up {args.warmup} + median of {args.repeats}; freed memory kept: {kept}", flush=True)
    if args.end_to_end:
        return main_end_to_end(args, info)
    rows: list[Row] = []
    for arch, resolution in itertools.product(args.arch, args.resolution):
        channel_base = args.channel_base or paper_channel_base(resolution)
        try:
            G = build_generator(arch, resolution, channel_base, args.channel_max, args.seed, args.device)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        params = sum(p.numel() for p in G.parameters())
        print(f"{arch} {resolution}px: channel_base {channel_base}, {params / 1e6:.1f}M parameters", flush=True)
        for dtype_name in args.dtype:
            tol = args.tol if args.tol is not None else TOLERANCES[dtype_name]
            for batch in args.batch:
                rows += bench_config(G, arch, resolution, batch, dtype_name, args.backend, args.device,
                                     args.warmup, args.repeats, tol, args.seed,
                                     log=lambda s: print(s, flush=True))
    print()
    print(format_table(rows))
    print("\nx reference: img/s over the reference backend's img/s in this run; max err: max abs difference "
          "from the reference backend's images (FAIL above tol x max(1, max|ref|), then not timed).")
    if args.json:
        write_json(args.json, info, args, "rows", rows)
    return 1 if any(r.status in ("FAIL", "error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
