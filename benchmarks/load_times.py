"""Load time of a 1024 px StyleGAN-sized checkpoint in every format stylegan_fast reads.

    python benchmarks/load_times.py [--repeats 3] [--json out.json]

The files are written by the test fixture writers (tests/checkpoint_fixtures/) in each format's
exact on-disk structure, with random weights: StyleGAN2 config-f sizes (channel_base 32768,
channel_max 512, z/w 512, 8 mapping layers) and StyleGAN1 FFHQ sizes for its TF pickle. NVlabs
pickles hold G and G_ema (and a small D), as training snapshots do. Loads are interleaved across
formats and the median is reported.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import stylegan_fast as sf  # noqa: E402
from tests.checkpoint_fixtures import nvlabs_pytorch, nvlabs_tf, rosinality  # noqa: E402


def write_all(folder: Path) -> dict[str, Path]:
    files = {}
    torch.manual_seed(0)
    G = sf.Generator.from_config(arch="stylegan2", resolution=1024, channel_base=32768)
    files["stylegan_fast"] = folder / "g1024.safetensors"
    G.save(files["stylegan_fast"])
    files["nvlabs-pytorch"] = folder / "g1024_nvlabs.pkl"
    nvlabs_pytorch.write_nvlabs_pickle(files["nvlabs-pytorch"], resolution=1024, z_dim=512, w_dim=512,
                                       mapping_layers=8, channel_base=32768, channel_max=512)
    files["nvlabs-tf-stylegan2"] = folder / "g1024_tf2.pkl"
    nvlabs_tf.write_stylegan2(files["nvlabs-tf-stylegan2"], resolution=1024, fmap_base=16384, fmap_max=512,
                              latent_size=512, dlatent_size=512, mapping_layers=8)
    files["nvlabs-tf-stylegan1"] = folder / "g1024_tf1.pkl"
    nvlabs_tf.write_stylegan1(files["nvlabs-tf-stylegan1"], resolution=1024, fmap_base=8192, fmap_max=512,
                              latent_size=512, dlatent_size=512, mapping_layers=8)
    files["rosinality"] = folder / "g1024_rosinality.pt"
    channels = {2 ** i: min(32768 // 2 ** i, 512) for i in range(2, 11)}
    rosinality.write(files["rosinality"], size=1024, style_dim=512, n_mlp=8, channels=channels)
    return files


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_all(Path(tmp))
        times = {name: [] for name in files}
        for _ in range(args.repeats):
            for name, path in files.items():
                t0 = time.perf_counter()
                G = sf.Generator.load(path)
                times[name].append(time.perf_counter() - t0)
                assert G.source_format == name, (G.source_format, name)
        rows = [dict(format=name, mb=round(path.stat().st_size / 2 ** 20, 1), arch=sf.Generator.load(path).arch,
                     median_s=round(statistics.median(times[name]), 3), runs_s=[round(t, 3) for t in times[name]])
                for name, path in files.items()]
    print(f"{'format':<22} {'arch':<10} {'MiB':>6} {'load s (median)':>16}  runs")
    for r in rows:
        print(f"{r['format']:<22} {r['arch']:<10} {r['mb']:>6} {r['median_s']:>16}  {r['runs_s']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                               "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
