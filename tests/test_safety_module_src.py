"""NVlabs ``module_src`` and TF ``build_module_src`` are text, never run; files written by the real
pickler (with stand-in ``torch_utils``/``dnnlib`` modules that exist only while writing) are refused.

The files are built by ``tests/hostile_pickles.py``.
"""
import pickle

import numpy as np
import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.checkpoints import safe_pickle as sp
from stylegan_fast.checkpoints.safe_pickle import UnsafePickleError
from tests.hostile_pickles import (PROTOCOLS, REAL_PICKLER_PAYLOADS, assemble, expect_refused, hostile_src,
                                   lit, persistent_obj, standin_modules, tensor_node, tf_network)


# ---- (d) module_src and (e) build_module_src are text, never run ----

def test_controls_module_src_is_live(marks):
    exec(compile(hostile_src(marks), "<module_src>", "exec"), {})
    assert marks.touched()


def _try_load(path):
    """Generator.load may fail for other reasons (inert records are not a real generator); it must
    never execute the file's source."""
    try:
        sf.Generator.load(path)
    except Exception as e:  # noqa: BLE001 - any refusal is acceptable here, execution is not
        return e
    return None


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_module_src_never_executed(tmp_path, marks, proto):
    state = {"w": tensor_node(torch.arange(3.0)), "init_kwargs": {"z_dim": 4}}
    node = {"G_ema": persistent_obj(state, module_src=hostile_src(marks)), "G": None, "D": None}
    path = tmp_path / "src.pkl"
    path.write_bytes(assemble(node, proto))
    obj = sp.load_pickle(path)
    g = obj["G_ema"]
    assert isinstance(g, sp.PersistentRecord) and g.name == "Generator" and g.module_src == hostile_src(marks)
    assert torch.equal(g.state["w"], torch.arange(3.0))
    marks.assert_untouched()
    _try_load(path)
    marks.assert_untouched()


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_tf_build_module_src_never_executed(tmp_path, marks, proto):
    def net(name):
        return tf_network({"version": 4, "name": name, "static_kwargs": {}, "build_module_src": hostile_src(marks),
                           "build_func_name": name, "variables": [("w", lit(b"\0" * 8))]})

    path = tmp_path / "tf.pkl"
    path.write_bytes(assemble((net("G"), net("D"), net("Gs")), proto))
    G, D, Gs = sp.load_pickle(path)
    assert isinstance(Gs, sp.Record) and Gs.qualname == "dnnlib.tflib.network.Network"
    assert Gs.state["build_module_src"] == hostile_src(marks)
    marks.assert_untouched()
    _try_load(path)
    marks.assert_untouched()


# ---- the real pickler, with stand-in torch_utils / dnnlib modules present only while writing ----

@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("payload", list(REAL_PICKLER_PAYLOADS))
@pytest.mark.parametrize("where", ["nvlabs-state", "tf-state"])
def test_hostile_real_pickler_standins(tmp_path, marks, where, payload, proto):
    make, global_name = REAL_PICKLER_PAYLOADS[payload]
    with standin_modules() as s:
        evil = make(marks)
        if where == "nvlabs-state":
            meta = {"type": "class", "version": 4, "module_src": hostile_src(marks), "class_name": "Generator",
                    "state": {"w": torch.ones(3), "mapping": torch.nn.Linear(2, 2), "evil": evil}}
            obj = {"G_ema": s.Persistent(meta), "G": None, "D": None}
        else:
            obj = tuple(s.Network({"build_module_src": hostile_src(marks),
                                   "variables": [("w", np.ones(2)), ("x", evil)]})
                        for _ in range(3))
        data = pickle.dumps(obj, protocol=proto)
    path = tmp_path / "standin.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError) as e:
        sf.Generator.load(path)
    expect_refused(e, global_name)
    marks.assert_untouched()
