"""Where the time goes in the reference generator (CPU by default), per op and per kind of aten op.

    python benchmarks/profile_layers.py --resolution 256 --channel-base 16384 --batch 4
    python benchmarks/profile_layers.py --resolution 1024 --channel-base 32768 --batch 1 --iters 1
    python benchmarks/profile_layers.py --arch stylegan1 --resolution 256 --json prof.json

Every ``Op`` of ``stylegan_fast.ops`` gets its registered implementations wrapped (here, at
run time; restored afterwards) in ``torch.profiler.record_function("sf::<op>")``; mapping and
synthesis run under ``phase::mapping`` / ``phase::synthesis``. One untimed-by-profiler warm-up
forward, then ``--iters`` profiled forwards; every profiler event's SELF time is attributed to

* its phase and innermost stylegan_fast op ("(outside ops)": code that calls aten directly,
  e.g. F.linear in FullyConnected, StyleGAN1's 3x3 'same' convs and toRGB conv), and
* a category: convolution/matmul; resampling = the depthwise FIR convolutions inside
  upfirdn2d (and any other aten op there except copies) plus upsample_* kernels; elementwise and
  reductions; copies/layout (copy_, _to_copy, cat, repeat, pad, slicing, views, allocation);
  python/glue = self time of our own record_function scopes (Python between aten calls);
  other.

Self times of one forward add up to the forward's profiled time. Per-op "incl" is the time
inside the op including the ops it calls: torgb_skip calls modulated_conv2d, noise_bias_act and
upsample2d; modulated_conv2d with up=2 calls upfirdn2d. Those nested calls show on their own rows
under "self".
"""
from __future__ import annotations

import argparse
import collections
import functools
import json
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

if __package__ in (None, ""):  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import stylegan_fast.ops  # noqa: E402,F401 - registers every op
from stylegan_fast.bench import build_generator, machine_info, make_latents, paper_channel_base  # noqa: E402
from stylegan_fast.ops.dispatch import REGISTRY, Op  # noqa: E402

OP_PREFIX, PHASE_PREFIX, TOP = "sf::", "phase::", "generator_forward"
CATEGORIES = ("convolution/matmul", "resampling (FIR, upsample)", "elementwise/reduction", "copies/layout",
              "C++ CPU kernels", "python/glue", "other")
SHORT = {"convolution/matmul": "conv", "resampling (FIR, upsample)": "resamp", "elementwise/reduction": "elem",
         "copies/layout": "copy", "C++ CPU kernels": "c++", "python/glue": "py", "other": "other"}

CONV = {"linear", "mm", "addmm", "bmm", "matmul", "_mkl_linear", "baddbmm"}
ELEMENTWISE = {"mul", "mul_", "add", "add_", "sub", "sub_", "div", "div_", "leaky_relu", "leaky_relu_", "relu",
               "relu_", "clamp", "clamp_", "clamp_min", "clamp_max", "rsqrt", "sqrt", "square", "pow", "mean",
               "sum", "lerp", "lerp_", "neg", "abs", "amax", "amin", "max", "min", "exp", "where", "reciprocal",
               "var", "var_mean", "std", "norm", "randn", "normal_", "addcmul", "fma", "maximum", "minimum"}
COPIES = {"copy_", "to", "_to_copy", "contiguous", "clone", "cat", "repeat", "expand", "expand_as", "pad",
          "constant_pad_nd", "slice", "reshape", "view", "_unsafe_view", "_reshape_alias", "flip", "as_strided",
          "transpose", "t", "permute", "unsqueeze", "squeeze", "select", "chunk", "split", "narrow", "index",
          "index_select", "stack", "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "zero_", "fill_",
          "ones", "full", "new_zeros", "new_empty", "new_full", "resize_", "detach", "alias", "lift_fresh",
          "unbind", "unfold", "as_strided_", "movedim", "_pad_enum", "constant_pad", "reflection_pad2d", "result_type",
          "item",
          "_local_scalar_dense", "copy", "tensor", "as_tensor", "scalar_tensor", "unflatten", "flatten"}


def find_ops() -> list[Op]:
    return list(REGISTRY.values())


class wrapped_ops:
    """Context manager: each Op's registered implementations run under record_function("sf::<op>")."""

    def __init__(self):
        self.saved = []

    def __enter__(self):
        for op in find_ops():
            for backend, fn in op.implementations.items():
                self.saved.append((op, backend, fn))
                op.implementations[backend] = self._wrap(op.name, fn)
        return [op.name for op in find_ops()]

    @staticmethod
    def _wrap(name, fn):
        @functools.wraps(fn)
        def scoped(*args, **kwargs):
            with record_function(OP_PREFIX + name):
                return fn(*args, **kwargs)
        return scoped

    def __exit__(self, *exc):
        for op, backend, fn in self.saved:
            op.implementations[backend] = fn
        return False


def categorize(name: str, op: str | None) -> str:
    if name.startswith((OP_PREFIX, PHASE_PREFIX)) or name == TOP:
        return "python/glue"
    if name.startswith("cpu::"):  # the cpu backend's scopes: its C++ kernels (and their Python glue)
        return "C++ CPU kernels"
    base = name.split("::", 1)[1] if name.startswith("aten::") else None
    if base is None:
        return "other"
    if base in COPIES:
        return "copies/layout"
    if "conv" in base or "mkldnn" in base or base in CONV:
        return "resampling (FIR, upsample)" if op == "upfirdn2d" else "convolution/matmul"
    if base.startswith("upsample") or op == "upfirdn2d":
        return "resampling (FIR, upsample)"
    if base in ELEMENTWISE:
        return "elementwise/reduction"
    return "other"


def scopes(event):
    """(phase, innermost stylegan_fast op) of a profiler event, looking at itself and its ancestors."""
    phase = op = None
    e = event
    while e is not None:
        if op is None and e.name.startswith(OP_PREFIX):
            op = e.name[len(OP_PREFIX):]
        if phase is None and e.name.startswith(PHASE_PREFIX):
            phase = e.name[len(PHASE_PREFIX):]
        e = e.cpu_parent
    return phase or "-", op


def outermost_of_its_name(event) -> bool:
    e = event.cpu_parent
    while e is not None:
        if e.name == event.name:
            return False
        e = e.cpu_parent
    return True


def analyse(events, iters: int) -> dict:
    per = 1e3 * iters  # microseconds over all iterations -> milliseconds per forward
    total_us = sum(e.cpu_time_total for e in events if e.name == TOP)
    rows = collections.OrderedDict()
    categories = collections.Counter()
    aten_by_category = collections.defaultdict(collections.Counter)
    for e in events:
        phase, op = scopes(e)
        if phase == "-" and e.name != TOP and not e.name.startswith(PHASE_PREFIX) and e.cpu_parent is None:
            continue  # not part of a profiled forward (e.g. profiler bookkeeping)
        key = (phase, op or "(outside ops)")
        row = rows.setdefault(key, dict(phase=key[0], op=key[1], calls=0, incl_ms=0.0, self_ms=0.0,
                                        by_category=collections.Counter()))
        cat = categorize(e.name, op)
        self_us = e.self_cpu_time_total
        row["self_ms"] += self_us / per
        row["by_category"][cat] += self_us / per
        categories[cat] += self_us / per
        aten_by_category[cat][e.name] += self_us / per
        if op is not None and e.name == OP_PREFIX + op:
            row["calls"] += 1 / iters
            if outermost_of_its_name(e):
                row["incl_ms"] += e.cpu_time_total / per
    total_ms = total_us / per
    return dict(total_ms=total_ms, per_op=list(rows.values()), categories=dict(categories),
                top_aten={c: dict(v.most_common(6)) for c, v in aten_by_category.items()})


def print_tables(result: dict) -> None:
    total = result["total_ms"]
    phase_order = {"mapping": 0, "synthesis": 1}
    per_op = sorted(result["per_op"], key=lambda r: (phase_order.get(r["phase"], 2), -r["self_ms"]))
    head = ["phase", "op", "calls", "incl ms", "self ms", "self %"] + [SHORT[c] + " ms" for c in CATEGORIES]
    lines = []
    for r in per_op:
        if r["phase"] == "-" and r["self_ms"] < 1e-3:
            continue
        incl = f"{r['incl_ms']:.1f}" if r["op"] != "(outside ops)" else "-"
        lines.append([r["phase"], r["op"], f"{r['calls']:.0f}" if r["calls"] else "-", incl, f"{r['self_ms']:.1f}",
                      f"{100 * r['self_ms'] / total:.1f}"]
                     + [f"{r['by_category'].get(c, 0.0):.1f}" for c in CATEGORIES])
    lines.append(["total", "", "", f"{total:.1f}", f"{sum(r['self_ms'] for r in per_op):.1f}", "100.0"]
                 + [f"{result['categories'].get(c, 0.0):.1f}" for c in CATEGORIES])
    _print_table("(a) per stylegan_fast op, ms per forward (self = not inside a nested op)", head, lines)
    cat_lines = [[c, f"{result['categories'].get(c, 0.0):.1f}", f"{100 * result['categories'].get(c, 0.0) / total:.1f}",
                  ", ".join(f"{n.replace('aten::', '')} {ms:.0f}" for n, ms in result["top_aten"].get(c, {}).items())]
                 for c in sorted(CATEGORIES, key=lambda c: -result["categories"].get(c, 0.0))]
    cat_lines.append(["total", f"{total:.1f}", "100.0", ""])
    _print_table("(b) per category of aten op, by self time, ms per forward", ["category", "ms", "%", "largest (ms)"],
                 cat_lines)


def _print_table(title, head, lines):
    widths = [max(len(str(x[i])) for x in [head] + lines) for i in range(len(head))]
    left = {0, 1} if len(head) > 4 else {0, 3}
    fmt = lambda cells: " | ".join(str(c).ljust(w) if i in left else str(c).rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    print(f"\n{title}")
    print(fmt(head))
    print("-+-".join("-" * w for w in widths))
    for cells in lines:
        print(fmt(cells))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="stylegan2", choices=["stylegan2", "stylegan1"])
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--channel-base", type=int, help="default: 16384 up to 256 px, else 32768 (NVlabs paper configs)")
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iters", type=int, default=1, help="profiled forwards (after one warm-up forward)")
    p.add_argument("--backend", default="reference")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    channel_base = args.channel_base or paper_channel_base(args.resolution)
    device = torch.device(args.device)
    G = build_generator(args.arch, args.resolution, channel_base, args.channel_max, device=device)
    G.backend = args.backend
    z = make_latents(args.batch, G.z_dim, device=device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    info = machine_info(device)
    print(f"{args.arch} {args.resolution}px channel_base {channel_base} channel_max {args.channel_max} batch "
          f"{args.batch}, backend {args.backend}, {device} ({info['device_name']}), {info['threads']} threads, "
          f"torch {info['torch']}", flush=True)

    def forward():
        with record_function(TOP):
            with record_function(PHASE_PREFIX + "mapping"):
                ws = G.mapping(z)
            with record_function(PHASE_PREFIX + "synthesis"):
                img = G.synthesis(ws)
            sync()
        return img

    with torch.inference_mode(), wrapped_ops() as names:
        start = time.perf_counter()
        forward()
        warm_ms = (time.perf_counter() - start) * 1e3
        print(f"warm-up forward (not profiled): {warm_ms:.0f} ms; wrapped ops: {', '.join(names)}", flush=True)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for _ in range(args.iters):
                img = forward()
    assert torch.isfinite(img).all()
    result = analyse(prof.events(), args.iters)
    print(f"profiled: {args.iters} forward(s), {result['total_ms']:.0f} ms per forward "
          f"({args.batch / result['total_ms'] * 1e3:.3f} img/s)")
    if device.type == "cuda":
        print("note: CUDA ops are asynchronous; CPU self times show launch cost, not kernel time")
    print_tables(result)
    if args.json:
        out = dict(config=dict(vars(args), channel_base=channel_base), machine=info, warmup_ms=warm_ms,
                   **{k: v for k, v in result.items()})
        for r in out["per_op"]:
            r["by_category"] = dict(r["by_category"])
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
