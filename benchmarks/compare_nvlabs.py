"""Side-by-side check of stylegan_fast against NVlabs' stylegan2-ada-pytorch on the same weights.

    python benchmarks/compare_nvlabs.py --nvlabs-dir third_party_ref/stylegan2-ada-pytorch \
        --resolution 256 --channel-base 16384 --batch 4 --repeats 5 [--json out.json] [--profile]

Steps: build NVlabs' ``training.networks.Generator`` with random init (and random nonzero
noise strengths, biases and w_avg), copy its tensors into ``stylegan_fast.Generator`` by name,
check the images agree (seeded z, psi 0.5 and 1, noise_mode const), then time both generators
in this process, interleaved, fp32, under ``torch.inference_mode()``.

NVlabs' code is only imported from ``--nvlabs-dir`` at run time (it is under a non-commercial
licence and is never vendored here). On CPU it runs its pure-PyTorch fallbacks; this script
makes sure it never tries to build its CUDA plugins.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import stylegan_fast  # noqa: E402


# --------------------------------------------------------------------------------------------
# NVlabs import (runtime only) and the guard that keeps it from compiling anything
# --------------------------------------------------------------------------------------------

def import_nvlabs(nvlabs_dir: Path):
    """Import NVlabs' ``training.networks`` from ``nvlabs_dir``; returns (networks module, notes)."""
    nvlabs_dir = nvlabs_dir.resolve()
    if not (nvlabs_dir / "training" / "networks.py").is_file():
        raise SystemExit(f"--nvlabs-dir {str(nvlabs_dir)!r} has no training/networks.py "
                         f"(fetch github:NVlabs/stylegan2-ada-pytorch and extract it there)")
    sys.path.insert(0, str(nvlabs_dir))
    notes = []
    from torch_utils import custom_ops  # noqa: E402  (NVlabs)

    def _no_plugin(module_name, *args, **kwargs):
        raise RuntimeError(f"NVlabs tried to build its CUDA plugin {module_name!r}; this benchmark must run "
                           f"their pure-PyTorch (impl='ref') paths on CPU")

    # Runtime guard, not a fix: their ops only call get_plugin for CUDA tensors.
    custom_ops.get_plugin = _no_plugin
    notes.append("torch_utils.custom_ops.get_plugin replaced by a function that raises (never called on CPU)")
    from training import networks  # noqa: E402  (NVlabs)
    return networks, notes


def build_nvlabs(networks, resolution, channel_base, channel_max, seed):
    torch.manual_seed(seed)
    G = networks.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                           mapping_kwargs=dict(num_layers=8),
                           synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max,
                                                 num_fp16_res=0, conv_clamp=None))
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


# --------------------------------------------------------------------------------------------
# Equivalence and timing
# --------------------------------------------------------------------------------------------

def run_ours(G, z, psi):
    return G(z, truncation_psi=psi, noise_mode="const")


def run_nvlabs(G, z, psi):
    return G(z, None, truncation_psi=psi, noise_mode="const")


def check_equivalence(G_nv, G_ours, seeds, psis):
    z = stylegan_fast.z_from_seeds(seeds, 512).float()
    results = []
    with torch.inference_mode():
        for psi in psis:
            a = run_ours(G_ours, z, psi).double()
            b = run_nvlabs(G_nv, z, psi).double()
            diff = (a - b).abs()
            results.append(dict(psi=psi, seeds=list(seeds), max_abs_diff=diff.max().item(),
                                mean_abs_diff=diff.mean().item(), ref_abs_max=b.abs().max().item()))
    return results


def time_interleaved(G_nv, G_ours, batch, repeats, warmup, psi, seed=0):
    z = torch.randn([batch, 512], generator=torch.Generator().manual_seed(seed))
    runners = {"ours": lambda: run_ours(G_ours, z, psi), "nvlabs": lambda: run_nvlabs(G_nv, z, psi)}
    times = {name: [] for name in runners}
    cpu_times = {name: [] for name in runners}
    with torch.inference_mode():
        for _ in range(warmup):
            for fn in runners.values():
                fn()
        for r in range(repeats):
            order = ["ours", "nvlabs"] if r % 2 == 0 else ["nvlabs", "ours"]  # alternate who goes first
            for name in order:
                c0, t0 = time.process_time(), time.perf_counter()
                runners[name]()
                times[name].append(time.perf_counter() - t0)
                cpu_times[name].append(time.process_time() - c0)
    out = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        out[name] = dict(times_s=ts, median_s=med, img_per_s=batch / med, min_s=min(ts),
                         img_per_s_best=batch / min(ts), cpu_s=cpu_times[name],
                         cpu_s_per_img_median=statistics.median(cpu_times[name]) / batch)
    # Headline: medians. On a loaded machine the best run and the CPU time (all threads of this
    # process) are less disturbed by other processes, so their ratios are reported too.
    out["ratio_ours_over_nvlabs"] = out["ours"]["img_per_s"] / out["nvlabs"]["img_per_s"]
    out["ratio_best"] = out["ours"]["img_per_s_best"] / out["nvlabs"]["img_per_s_best"]
    out["ratio_cpu_time"] = out["nvlabs"]["cpu_s_per_img_median"] / out["ours"]["cpu_s_per_img_median"]
    return out


# --------------------------------------------------------------------------------------------
# Profiling (--profile): op tables for both, plus where ours loses time per layer
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


# --------------------------------------------------------------------------------------------

def _git_state():
    """HEAD commit and whether tracked files differ from it (others may change the code mid-run)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "stylegan_fast"], cwd=REPO_ROOT).returncode != 0
        return f"{head}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nvlabs-dir", type=Path, required=True, help="extracted stylegan2-ada-pytorch checkout")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--channel-base", type=int, default=16384)
    ap.add_argument("--channel-max", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5, help="timed forwards per generator (median taken)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed forwards per generator first")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--psi", type=float, default=1.0, help="truncation psi while timing")
    ap.add_argument("--seeds", default="0-1", help="seeds for the equivalence check")
    ap.add_argument("--init-seed", type=int, default=0, help="seed of the random NVlabs init")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="max abs diff allowed (exit 1 above it)")
    ap.add_argument("--profile", action="store_true", help="print torch.profiler tables and per-layer conv timings")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    networks, notes = import_nvlabs(args.nvlabs_dir)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"stylegan_fast at {_git_state()}")
    for n in notes:
        print(f"note: {n}")

    G_nv = build_nvlabs(networks, args.resolution, args.channel_base, args.channel_max, args.init_seed)
    G_ours = stylegan_fast.Generator.from_config(arch="stylegan2", resolution=args.resolution,
                                                 channel_base=args.channel_base, channel_max=args.channel_max,
                                                 z_dim=512, w_dim=512, c_dim=0, mapping_layers=8,
                                                 num_fp16_res=0, conv_clamp=None)
    n_copied, n_skipped = copy_weights(G_nv, G_ours)
    G_ours = G_ours.eval().requires_grad_(False)
    print(f"config: stylegan2 {args.resolution}px channel_base {args.channel_base} channel_max {args.channel_max}, "
          f"{sum(p.numel() for p in G_ours.parameters()) / 1e6:.2f}M params; copied {n_copied} tensors "
          f"({n_skipped} resample filters left to ours); backend {stylegan_fast.resolve_backend(G_ours.backend, 'cpu')}")

    eq = check_equivalence(G_nv, G_ours, stylegan_fast.parse_seeds(args.seeds), psis=(0.5, 1.0))
    for r in eq:
        print(f"equivalence psi={r['psi']}: max abs diff {r['max_abs_diff']:.3e}, mean {r['mean_abs_diff']:.3e} "
              f"(|img| max {r['ref_abs_max']:.2f})")
    max_diff = max(r["max_abs_diff"] for r in eq)

    load_before = os.getloadavg()
    t = time_interleaved(G_nv, G_ours, args.batch, args.repeats, args.warmup, args.psi)
    load_after = os.getloadavg()
    print(f"load average (1 min) before/after timing: {load_before[0]:.2f} / {load_after[0]:.2f} "
          f"on {os.cpu_count()} CPUs (other processes skew absolute img/s; the interleaving keeps the ratio fair)")
    for name in ("ours", "nvlabs"):
        ms = ", ".join(f"{x * 1e3:.0f}" for x in t[name]["times_s"])
        print(f"{name:>7}: {t[name]['img_per_s']:.3f} img/s  (median {t[name]['median_s'] * 1e3:.1f} ms "
              f"per batch of {args.batch}; best {t[name]['img_per_s_best']:.3f} img/s; "
              f"{t[name]['cpu_s_per_img_median']:.2f} CPU-s/img; runs ms: {ms})")
    ratio = t["ratio_ours_over_nvlabs"]
    print(f"  ratio ours/nvlabs: {ratio:.3f} median  ({'meets' if ratio >= 0.8 else 'MISSES'} the 0.80 requirement); "
          f"{t['ratio_best']:.3f} best-run, {t['ratio_cpu_time']:.3f} by CPU time")

    result = dict(stylegan_fast_git=_git_state(), config=dict(arch="stylegan2", resolution=args.resolution, channel_base=args.channel_base,
                              channel_max=args.channel_max, batch=args.batch, repeats=args.repeats,
                              warmup=args.warmup, threads=torch.get_num_threads(), psi=args.psi, dtype="float32"),
                  torch=torch.__version__, notes=notes, loadavg_1min=[load_before[0], load_after[0]], equivalence=eq, max_abs_diff=max_diff,
                  timing=t, ratio_ours_over_nvlabs=ratio)

    if args.profile:
        tables = profile_both(G_nv, G_ours, args.batch, args.psi)
        for name, table in tables.items():
            print(f"\n=== torch.profiler, {name}, batch {args.batch} (self CPU time) ===\n{table}")
        rows = per_layer_conv_timing(G_ours, args.batch)
        print(f"\n=== per-layer modulated conv, batch {args.batch} (ms, best of 5) ===")
        print(f"{'layer':<12}{'up':>3}{'in_res':>7}{'shared':>10}{'grouped':>10}{'ours op':>10}")
        for r in rows:
            print(f"{r['layer']:<12}{r['up']:>3}{r['in_res']:>7}{r['shared_ms']:>10.2f}{r['grouped_ms']:>10.2f}"
                  f"{r['ours_full_op_ms']:>10.2f}")
        tot = {k: sum(r[k] for r in rows) for k in ("shared_ms", "grouped_ms", "ours_full_op_ms")}
        print(f"{'total':<22}{tot['shared_ms']:>10.2f}{tot['grouped_ms']:>10.2f}{tot['ours_full_op_ms']:>10.2f}")
        result["profile"] = dict(per_layer_conv=rows, totals_ms=tot)

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    if max_diff > args.tolerance:
        print(f"FAIL: outputs differ by {max_diff:.3e} > --tolerance {args.tolerance}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
