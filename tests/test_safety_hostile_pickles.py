"""Hostile checkpoints are refused and run nothing: the placement x payload x protocol matrix.

Every hostile file carries a payload that, if any of it ran, would leave a mark in ``tmp_path``:
create the file CANARY (os.system, exec, eval, open, subprocess, torch.save, an imported module,
...) or delete the directory VICTIM (shutil.rmtree). Each test loads the file (mostly through the
user path, ``Generator.load``), expects a refusal naming the global, and then checks that no mark
was left. The payloads are placed at the top level, inside an NVlabs persistent object's state,
inside a nested tensor-storage blob (legacy torch.save, zip and tar formats), inside TF Network
state, and are written for every pickle protocol 0..5 the opcodes allow. ``test_controls_*``
prove the payloads are live: the same bytes do leave the mark under plain ``pickle.loads``.

The files are built by ``tests/hostile_pickles.py``.
"""
import io
import pickle

import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.checkpoints import safe_pickle as sp
from stylegan_fast.checkpoints.safe_pickle import UnsafePickleError
from tests.hostile_pickles import (CORE_PAYLOADS, HOSTILE, PAYLOADS, PLACEMENTS, assemble, expect_refused,
                                   legacy_blob, write_hostile)


# every fourth variant goes straight through safe_pickle.load_pickle, the rest through Generator.load
HOSTILE_CASES = [(*v, "load_pickle" if i % 4 == 0 else "Generator.load") for i, v in enumerate(HOSTILE)]


@pytest.mark.parametrize("placement,payload,proto,via", HOSTILE_CASES,
                         ids=[f"{a}-{b}-p{c}-{d}" for a, b, c, d in HOSTILE_CASES])
def test_hostile_refused(tmp_path, marks, placement, payload, proto, via):
    path = write_hostile(tmp_path, placement, payload, proto, marks)
    with pytest.raises(UnsafePickleError) as e:
        if via == "load_pickle":
            sp.load_pickle(path)
        else:
            sf.Generator.load(path)
    expect_refused(e, PAYLOADS[payload][1], placement)
    marks.assert_untouched()


def test_hostile_count():
    # The report quotes this number; keep the matrix from silently shrinking.
    print(f"\n{len(HOSTILE)} hostile placement x payload x protocol variants")
    assert len(HOSTILE) >= 200


# ---- the payloads are live: plain pickle runs them (so the refusals above mean something) ----

@pytest.mark.parametrize("payload,proto", [(p, 2) for p in CORE_PAYLOADS if not p.startswith("dotted")]
                         + [("dotted subprocess/os.system", 4), ("dotted torch/os.system", 4),
                            ("io.open", 0), ("torch.save", 3), ("numpy.savetxt", 5), ("builtins.eval", 1)])
def test_controls_plain_pickle_runs_payload(tmp_path, marks, payload, proto):
    data = assemble(PLACEMENTS["top"](PAYLOADS[payload][0](marks), marks), proto)
    obj = pickle.loads(data)
    if hasattr(obj["G_ema"], "close"):
        obj["G_ema"].close()
    assert marks.touched(), f"{payload} left no mark under plain pickle: the hostile test would be vacuous"


def test_controls_nested_blob_runs_payload_without_weights_only(tmp_path, marks):
    blob = legacy_blob(assemble(PAYLOADS["os.system"][0](marks), 2))
    with pytest.raises(Exception):  # runs os.system, then fails to read the rest of the stream
        torch.load(io.BytesIO(blob), weights_only=False)
    assert marks.touched()
