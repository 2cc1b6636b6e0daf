"""render under torchrun: the seeds sharded across processes (CPU, gloo), each rendered once."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import stylegan_fast as sf
from stylegan_fast import distributed
from tests.conftest import build


@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_shards_are_disjoint_and_cover_the_items(world):
    items = distributed.unique([5, 0, 3, 5, 9, 0, 12, 4, 8])
    assert items == [5, 0, 3, 9, 12, 4, 8]
    shards = [distributed.shard(items, r, world) for r in range(world)]
    flat = [x for s in shards for x in s]
    assert sorted(flat) == sorted(items) and len(flat) == len(set(flat))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced
    with pytest.raises(ValueError, match="rank 2 out of range for world size 2"):
        distributed.shard(items, 2, 2)


def test_not_launched_by_torchrun(monkeypatch):
    for var in distributed.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    assert not distributed.launched() and distributed.init(torch.device("cpu")) is None


def test_torchrun_two_processes_render_each_seed_once(tmp_path):
    G = build("stylegan2", 16)
    network = tmp_path / "tiny.safetensors"
    G.save(network)
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(sf.__file__)))] + sys.path))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
           "-m", "stylegan_fast", "render", "--network", str(network), "--seeds", "0-9,3", "--batch-size", "3",
           "--trunc", "0.7", "--device", "cpu", "--outdir", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"seed{s:04d}.png" for s in range(10)]  # exactly the seed list: none skipped, no extra
    logged = re.findall(r"rank (\d) of 2: (\d+) seeds on cpu", r.stderr)
    assert sorted(logged) == [("0", "5"), ("1", "5")]  # the repeated 3 counted once
    summaries = re.findall(r"rendered (\d+) images .*2 processes", r.stdout)
    assert summaries == ["10"], r.stdout  # one summary, from rank 0, of both ranks' work
    z = sf.z_from_seeds(list(range(10)), G.z_dim)
    with torch.no_grad():
        expected = sf.to_uint8(G(z, truncation_psi=0.7)).numpy()
    for s in range(10):
        got = np.asarray(Image.open(out / f"seed{s:04d}.png")).astype(int)
        assert np.abs(got - expected[s]).max() <= 1  # another batch split than one call: within one level


def test_grid_is_refused_under_torchrun(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from stylegan_fast.cli import main

    for var, value in zip(distributed.ENV_VARS, ("0", "2", "0")):
        monkeypatch.setenv(var, value)
    r = CliRunner().invoke(main, ["render", "--grid", str(tmp_path / "g.png"), "--outdir", str(tmp_path / "o")])
    assert r.exit_code == 1 and "--grid is not supported under torchrun" in r.output
    assert not list(tmp_path.iterdir())
