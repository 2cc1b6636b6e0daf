"""Benign pickles of every protocol (tensors, arrays, containers, NVlabs- and TF-shaped files, torch
zip files) still load through the restricted unpickler, and the inert records cannot be re-pickled
or changed.
"""
import collections
import io
import pickle

import numpy as np
import pytest
import torch

from stylegan_fast.checkpoints import safe_pickle as sp
from stylegan_fast.checkpoints.safe_pickle import UnsafePickleError
from tests.hostile_pickles import PROTOCOLS, assemble, standin_modules, tensor_node


def _benign():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 3
    return collections.OrderedDict(
        f32=base, f16=base.half(), bf16=base.bfloat16(), i64=torch.arange(5), bool=torch.tensor([True, False]),
        transposed=base.t(), sliced=base[1:, 2::2], expanded=torch.ones(3, 1).expand(3, 4), scalar=torch.tensor(2.5),
        empty=torch.zeros(0, 3), param=torch.nn.Parameter(base.clone()),
        frozen=torch.nn.Parameter(base.clone(), requires_grad=False),
        np_f32=a, np_f64_fortran=np.asfortranarray(a.astype(np.float64)), np_view=a[:, ::2], np_empty=np.zeros((0, 2)),
        np_int=np.arange(3, dtype=np.int16), np_scalar=np.float32(1.5), np_int_scalar=np.int64(-3),
        np_dtype=np.dtype("f2"), nested=[{"x": (1, 2.5, "s", b"raw", b"")}, None, True],
        od=collections.OrderedDict([("b", 1), ("a", 2)]), s={1, 2}, fs=frozenset({"a"}), sl=slice(1, None, 2),
        size=torch.Size([2, 3]), dev=torch.device("cpu"), dt=torch.float16, big=10 ** 30,
    )


def _assert_same(x, y, where="obj"):
    assert type(x) is type(y), f"{where}: {type(x)} != {type(y)}"
    if isinstance(x, torch.Tensor):
        assert x.dtype == y.dtype and x.shape == y.shape and x.stride() == y.stride(), where
        assert x.requires_grad == y.requires_grad and torch.equal(x, y), where
    elif isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), where
        assert x.flags.f_contiguous == y.flags.f_contiguous, where
    elif isinstance(x, dict):
        assert list(x) == list(y), where
        for k in x:
            _assert_same(x[k], y[k], f"{where}[{k!r}]")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), where
        for i, (a, b) in enumerate(zip(x, y)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert x == y, where


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_benign_pickles_load(proto):
    obj = _benign()
    _assert_same(obj, sp.load_pickle(io.BytesIO(pickle.dumps(obj, protocol=proto))))


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_benign_file_path_and_assembled_tensor(tmp_path, proto):
    t = torch.arange(6.0).reshape(2, 3).t()
    path = tmp_path / "b.pkl"
    path.write_bytes(assemble({"t": tensor_node(t), "raw": b"\x00\xff\n\\"}, proto))
    out = sp.load_pickle(str(path))
    _assert_same(t, out["t"])
    assert out["raw"] == b"\x00\xff\n\\"


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_benign_nvlabs_and_tf_shaped_pickles(tmp_path, proto):
    with standin_modules() as s:
        w = torch.randn(3, 4)
        meta = {"type": "class", "version": 4, "module_src": "class Generator: pass\n", "class_name": "Generator",
                "state": {"_parameters": collections.OrderedDict(w=torch.nn.Parameter(w)), "fc": torch.nn.Linear(2, 2),
                          "init_kwargs": {"z_dim": 4, "mapping_kwargs": {"num_layers": 2}}}}
        nv = pickle.dumps({"G": s.Persistent(dict(meta)), "D": None, "G_ema": s.Persistent(meta),
                           "augment_pipe": None}, protocol=proto)
        tf = pickle.dumps(tuple(s.Network({"version": 4, "name": n, "build_module_src": "", "variables":
                                          [("w", np.full((2, 2), 3, np.float32))]}) for n in ("G", "D", "Gs")),
                          protocol=proto)
    g = sp.load_pickle(io.BytesIO(nv))["G_ema"]
    assert isinstance(g, sp.PersistentRecord) and g.name == "Generator" and g.version == 4
    assert torch.equal(g.state["_parameters"]["w"], w) and g.state["init_kwargs"]["z_dim"] == 4
    assert isinstance(g.state["fc"], sp.Record)
    G, D, Gs = sp.load_pickle(io.BytesIO(tf))
    assert Gs.qualname == "dnnlib.tflib.network.Network" and Gs.state["name"] == "Gs"
    _assert_same(Gs.state["variables"][0][1], np.full((2, 2), 3, np.float32))


def test_benign_torch_zip_loads(tmp_path):
    obj = {"g_ema": collections.OrderedDict(w=torch.ones(2, 2).half()), "latent_avg": torch.zeros(4)}
    torch.save(obj, tmp_path / "r.pt")
    _assert_same(obj, sp.load_torch_file(tmp_path / "r.pt"))


def test_records_cannot_be_repickled_or_changed():
    rec = sp.record_class("torch.nn.modules.linear", "Linear")()
    with pytest.raises(TypeError):
        pickle.dumps(rec)
    with pytest.raises(UnsafePickleError):
        sp.PersistentRecord.__init__ = None
    with pytest.raises(UnsafePickleError):
        type(rec).module = "os"
    with pytest.raises(UnsafePickleError):
        sp.ALLOWED[("torch._utils", "_rebuild_tensor_v2")].__defaults__ = ()
