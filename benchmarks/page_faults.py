"""Minor page faults and speed of the reference generator, with and without keep_freed_memory.

    python benchmarks/page_faults.py [--rounds 2] [--json out.json]

Each measurement runs in its own process (STYLEGAN_FAST_KEEP_FREED_MEMORY=1 or 0), alternating, on
StyleGAN2 at 256 px (channel_base 16384, batch 4) and 1024 px (channel_base 32768, batch 1), fp32:
one warm-up forward, then three timed ones; faults and system/user CPU time per image from getrusage.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [(256, 16384, 4), (1024, 32768, 1)]
CHILD = """
import json, resource, sys, time, torch
sys.path.insert(0, {root!r})
import stylegan_fast as sf
from stylegan_fast.bench import build_generator, make_latents
kept = sf.keep_freed_memory()
G = build_generator("stylegan2", {res}, {base})
z = make_latents({batch}, G.z_dim)
with torch.inference_mode():
    G(z)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(3):
        G(z)
    dt, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
n = 3 * {batch}
print(json.dumps(dict(kept=kept, img_per_s=n / dt, minor_faults_per_img=(r1.ru_minflt - r0.ru_minflt) / n,
                      sys_s_per_img=(r1.ru_stime - r0.ru_stime) / n, user_s_per_img=(r1.ru_utime - r0.ru_utime) / n)))
"""


def measure(res: int, base: int, batch: int, keep: bool) -> dict:
    env = {**os.environ, "STYLEGAN_FAST_KEEP_FREED_MEMORY": "1" if keep else "0"}
    code = CHILD.format(root=str(ROOT), res=res, base=base, batch=batch)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    rows = []
    for res, base, batch in CASES:
        for r in range(args.rounds):
            for keep in (False, True):
                row = dict(resolution=res, channel_base=base, batch=batch, keep_freed_memory=keep, round=r,
                           **measure(res, base, batch, keep))
                rows.append(row)
                print(f"{res:>5} px batch {batch}  keep_freed_memory={keep!s:5}  {row['img_per_s']:.3f} img/s  "
                      f"{row['minor_faults_per_img']:>9.0f} minor faults/img  sys {row['sys_s_per_img']:.2f} s/img  "
                      f"user {row['user_s_per_img']:.2f} s/img", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
