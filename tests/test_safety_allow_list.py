"""Specific allow-list abuses are refused: allow-listed globals called with hostile arguments,
extension codes, refused (dotted, not-identifier) names, BUILD on allow-listed globals (which must
change nothing process-wide), tensor views outside their storage, nested tar blobs, corrupt pickles
and out-of-band buffers.

The files are built by ``tests/hostile_pickles.py``.
"""
import copyreg
import io
import pickle

import numpy as np
import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.checkpoints import CheckpointError
from stylegan_fast.checkpoints import safe_pickle as sp
from stylegan_fast.checkpoints.safe_pickle import UnsafePickleError
from tests.hostile_pickles import (PROTOCOLS, SPECIFIC, Build, Call, Global, Raw, assemble, standin_modules,
                                   storage_blob, tar_blob, tensor_node)


# ---- (h) specific allow-list entries abused ----

def _refuse(tmp_path, node, proto, expect, via="load_pickle", exc=UnsafePickleError):
    path = tmp_path / f"h-p{proto}.pkl"
    path.write_bytes(assemble(node, proto))
    with pytest.raises(exc) as e:
        sp.load_pickle(path) if via == "load_pickle" else sf.Generator.load(path)
    assert expect in str(e.value), str(e.value)
    return e


SPECIFIC_CASES = [(c, p) for c in SPECIFIC for p in ((0,) if c == "persid-p0" else (0, 2, 4))]


@pytest.mark.parametrize("case,proto", SPECIFIC_CASES, ids=[f"{c}-p{p}" for c, p in SPECIFIC_CASES])
def test_specific_abuse_refused(tmp_path, marks, case, proto):
    build, expect = SPECIFIC[case]
    _refuse(tmp_path, {"G_ema": build(marks)}, proto, expect,
            via="generator" if proto == 4 else "load_pickle")
    marks.assert_untouched()


@pytest.mark.parametrize("opcode,code", [(pickle.EXT1, 0xF1), (pickle.EXT2, 0xF1F1), (pickle.EXT4, 0xF1F1F1)])
@pytest.mark.parametrize("proto", [2, 3, 4, 5])
def test_extension_codes_go_through_the_allow_list(tmp_path, marks, opcode, code, proto):
    nbytes = {pickle.EXT1: 1, pickle.EXT2: 2, pickle.EXT4: 4}[opcode]
    node = Call(Raw(lambda p: opcode + code.to_bytes(nbytes, "little")), [f"touch {marks.canary}"])
    copyreg.add_extension("posix", "system", code)
    try:
        _refuse(tmp_path, {"G_ema": node}, proto, "posix.system", via="generator")
    finally:
        copyreg.remove_extension("posix", "system", code)
    marks.assert_untouched()


# dotted and not-identifier names: refused, never resolved by walking attributes
REFUSED_NAMES = [
    ("torch", "_utils._rebuild_tensor_v2"),
    ("torch", "storage._load_from_bytes"),
    ("collections", "OrderedDict.fromkeys"),
    ("builtins", "set.__init__"),
    ("numpy", "ndarray.__setstate__"),
    ("numpy", "core.multiarray._reconstruct"),
    ("torch._utils", "_rebuild_tensor_v2.__globals__"),
    ("torch_utils.persistence", "_reconstruct_persistent_obj.__globals__"),
    ("torch_utils", "persistence._reconstruct_persistent_obj"),
    ("dnnlib", "tflib.network.Network"),
    ("os.path", "join"),
    ("os", "path.join"),
    ("builtins", "__import__"),
    ("__builtin__", "__import__"),
    ("builtins", "getattr"),
    ("builtins", "type"),
    ("builtins", "bytearray"),
    ("copyreg", "__newobj__"),
    ("copyreg", "_reconstructor.__globals__"),
    ("torch", "load"),
    ("torch", "nn.Module"),
    ("torch.nn", "Module"),
    ("torch.nn.modules", "Module"),  # no trailing dot: not the inert prefix
    ("torch.nn.modulesX.module", "Module"),
    ("torch.nn.modules.module", "Module.__init__"),
    ("torch.nn.modules.module", "__class__"),
    ("torch.nn.modules.module", "__init__"),
    ("torch.nn.modules.module", "1Module"),
    ("torch.nn.modules.module", ""),
    ("torch.nn.modules.", "Module"),
    ("torch.nn.modules..module", "Module"),
    ("torch.nn.modules.mod ule", "Module"),
    ("torch.nn.modules.module;os", "Module"),
    ("torch.nn.modules.module\x00", "Module"),
]


@pytest.mark.parametrize("module,name", REFUSED_NAMES, ids=[f"{a}:{b}" for a, b in REFUSED_NAMES])
def test_refused_names(module, name):
    with pytest.raises(UnsafePickleError) as e:
        sp.RestrictedUnpickler(io.BytesIO()).find_class(module, name)
    assert f"{module}.{name}" in str(e.value)


@pytest.mark.parametrize("proto", [4, 5])
@pytest.mark.parametrize("module,name", REFUSED_NAMES[:12], ids=[f"{a}:{b}" for a, b in REFUSED_NAMES[:12]])
def test_refused_dotted_names_in_stack_global(tmp_path, module, name, proto):
    # STACK_GLOBAL is where plain pickle walks dotted names (protocol 4+)
    _refuse(tmp_path, {"G_ema": Global(module, name)}, proto, f"{module}.{name}", via="generator")


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_inert_prefix_gives_records_never_torch_classes(tmp_path, proto):
    cls = sp.RestrictedUnpickler(io.BytesIO()).find_class("torch.nn.modules.module", "Module")
    assert issubclass(cls, sp.Record) and not issubclass(cls, torch.nn.Module)
    assert (cls.module, cls.name) == ("torch.nn.modules.module", "Module")
    with standin_modules() as s:
        lin = torch.nn.Linear(2, 3)
        data = pickle.dumps({"G_ema": s.Persistent({"type": "class", "class_name": "G", "state": {"fc": lin}})},
                            protocol=proto)
    path = tmp_path / "inert.pkl"
    path.write_bytes(data)
    rec = sp.load_pickle(path)["G_ema"].state["fc"]
    assert isinstance(rec, sp.Record) and not isinstance(rec, torch.nn.Module)
    assert rec.qualname == "torch.nn.modules.linear.Linear"
    assert torch.equal(rec.state["_parameters"]["weight"], lin.weight)


# BUILD on a global is setattr / __setstate__ on an object shared by the whole process: a file must
# not be able to change torch's functions or our classes for the next load.
_SHARED = sorted(sp.ALLOWED)


@pytest.mark.parametrize("state_kind", ["dict", "slots", "defaults"])
@pytest.mark.parametrize("key", _SHARED, ids=[f"{m}.{n}" for m, n in _SHARED])
def test_build_on_allowed_globals_changes_nothing(tmp_path, key, state_kind):
    target = sp.ALLOWED[key]
    underlying = getattr(target, "_fn", target)
    before = {a: getattr(underlying, a, None) for a in ("__defaults__", "__kwdefaults__", "__dict__")}
    before_dict = dict(before["__dict__"]) if isinstance(before["__dict__"], dict) else None
    state = {"dict": {"zz_canary": 1}, "slots": (None, {"zz_canary": 1}),
             "defaults": (None, {"__defaults__": (1, 2, 3), "__kwdefaults__": {"x": 1}})}[state_kind]
    path = tmp_path / "build.pkl"
    path.write_bytes(assemble({"G_ema": Build(Global(*key), state)}, 4))
    with pytest.raises(Exception):
        sp.load_pickle(path)
    for obj in (target, underlying):
        assert not hasattr(obj, "zz_canary")
    assert getattr(underlying, "__defaults__", None) == before["__defaults__"]
    assert getattr(underlying, "__kwdefaults__", None) == before["__kwdefaults__"]
    if before_dict is not None:
        assert dict(underlying.__dict__) == before_dict


def test_build_on_torch_function_does_not_poison_later_loads(tmp_path):
    t = torch.arange(4.0)
    path = tmp_path / "poison.pkl"
    path.write_bytes(assemble({"G_ema": Build(Global("torch._utils", "_rebuild_tensor_v2"),
                                              (None, {"__defaults__": (True, None, None)}))}, 2))
    with pytest.raises(UnsafePickleError, match="_rebuild_tensor_v2"):
        sf.Generator.load(path)
    assert torch._utils._rebuild_tensor_v2.__defaults__ == (None,)
    assert torch.equal(sp.load_pickle(io.BytesIO(pickle.dumps(t))), t)


def test_nested_tar_blob_is_not_extracted(tmp_path, marks):
    path = tmp_path / "tar.pkl"
    path.write_bytes(assemble({"G_ema": tensor_node(torch.ones(2), blob=tar_blob(marks))}, 2))
    with pytest.raises(pickle.UnpicklingError, match="corrupt embedded tensor storage"):
        sp.load_pickle(path)
    marks.assert_untouched()
    with pytest.raises(Exception):  # see test_corrupt_pickle_is_a_checkpoint_error for the type
        sf.Generator.load(path)
    marks.assert_untouched()


@pytest.mark.parametrize("size,stride,offset", [((1000,), (1,), 0), ((2,), (1,), 1), ((2, 2), (1, 1), 0),
                                                ((2,), (-1,), 1), ((1,), (1,), -1)])
def test_tensor_view_outside_its_storage_refused(tmp_path, size, stride, offset):
    # Tensor.set_ would grow the storage to fit: a 2-element storage viewed as 10**12 elements
    node = Call(Global("torch._utils", "_rebuild_tensor_v2"),
                [Call(Global("torch.storage", "_load_from_bytes"), [storage_blob(torch.ones(2))]),
                 offset, size, stride, False, Call(Global("collections", "OrderedDict"))])
    path = tmp_path / "oob.pkl"
    path.write_bytes(assemble({"G_ema": node}, 4))
    with pytest.raises(pickle.UnpicklingError, match="invalid tensor"):
        sp.load_pickle(path)


def test_corrupt_pickle_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "truncated.pkl"
    path.write_bytes(pickle.dumps({"G_ema": list(range(100))}, protocol=4)[:-20])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        sf.Generator.load(path)


def test_protocol5_out_of_band_buffers_refused(tmp_path):
    buffers = []
    data = pickle.dumps({"a": np.arange(10.0)}, protocol=5, buffer_callback=buffers.append)
    assert buffers  # the array really went out of band
    with pytest.raises(pickle.UnpicklingError, match="out-of-band"):
        sp.load_pickle(io.BytesIO(data))
