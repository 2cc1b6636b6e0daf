"""A restricted unpickler for foreign checkpoints: nothing in a file is ever executed.

``pickle.load`` calls whatever a file names, and StyleGAN checkpoints name code: NVlabs'
``torch_utils.persistence`` re-executes module source stored inside the file, and the TF
pickles' ``Network.__setstate__`` does the same. Here every global a file asks for is looked
up in an allow-list of exactly what these formats use; objects of foreign classes become
inert :class:`Record` s holding their state, and anything else raises
:class:`UnsafePickleError` naming the refused global. Tensor storages embedded in a pickle
are read with ``torch.load(weights_only=True)``. ``torch_utils`` and ``dnnlib`` are never
imported.
"""
from __future__ import annotations

import codecs
import collections
import io
import pickle
from typing import Any

import numpy as np
import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks for a global outside the allow-list."""


class Record:
    """An inert stand-in for an object of a foreign class: its class name and pickled state.

    It has no behaviour: building it from a pickle stores data and runs nothing.
    """

    module = "?"
    name = "?"

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state):
        self.state = state

    def __reduce__(self):  # never re-pickled into something executable
        raise TypeError("a Record from a checkpoint cannot be pickled again")

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self):
        return f"<Record {self.qualname}>"


def record_class(module: str, name: str) -> type:
    """A Record subclass named after a foreign class (so BUILD/NEWOBJ land in inert objects)."""
    return type(name, (Record,), {"module": module, "name": name})


class PersistentRecord(Record):
    """What NVlabs' ``_reconstruct_persistent_obj(meta)`` would have rebuilt, without the exec.

    ``class_name`` and ``state`` (the object's ``__dict__``) are kept; ``module_src`` is kept as
    text only for format detection and never compiled.
    """

    module = "torch_utils.persistence"

    def __init__(self, meta):
        super().__init__()
        if not isinstance(meta, dict) or meta.get("type") != "class":
            raise UnsafePickleError(f"unexpected persistent-object record {type(meta).__name__} in the file")
        self.name = str(meta.get("class_name"))
        self.version = meta.get("version")
        self.module_src = str(meta.get("module_src", ""))
        self.state = meta.get("state")


class EasyDictRecord(dict):
    """dnnlib.util.EasyDict as a plain dict."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


def _load_storage_from_bytes(b: bytes):
    """torch.storage._load_from_bytes with weights_only loading (no code in nested blobs)."""
    if not isinstance(b, (bytes, bytearray)):
        raise UnsafePickleError(f"embedded tensor storage must be bytes, got {type(b).__name__}")
    try:
        return torch.load(io.BytesIO(b), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        raise UnsafePickleError(f"refused an embedded tensor storage: {e}") from None


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Protocol 2 stores bytes as codecs.encode(str, 'latin1'); no other use is accepted.
    if encoding not in ("latin1", "latin-1") or not isinstance(obj, str):
        raise UnsafePickleError(f"refused _codecs.encode with encoding {encoding!r}")
    return codecs.encode(obj, "latin1", errors)


def _numpy_reconstruct(*args):
    from numpy.core.multiarray import _reconstruct  # noqa: PLC0415 (numpy 1 and 2 both keep this path)

    return _reconstruct(*args)


def _numpy_scalar(*args):
    from numpy.core.multiarray import scalar  # noqa: PLC0415

    return scalar(*args)


def _numpy_frombuffer(buf, dtype, shape, order):
    # Protocol 5 pickles of numpy arrays; dtype must already be a numpy dtype (itself allow-listed).
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"refused numpy _frombuffer with dtype {type(dtype).__name__}")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()


def _reconstructor(cls, base, state):
    # copyreg._reconstructor (protocols 0 and 1): only ever builds our inert classes.
    if not (isinstance(cls, type) and issubclass(cls, (Record, EasyDictRecord))):
        raise UnsafePickleError(f"refused copyreg._reconstructor for {cls!r}")
    return cls.__new__(cls)


_TORCH_DTYPES = {name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)}

ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("builtins", "object"): object,
    ("_codecs", "encode"): _codecs_encode,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentRecord,
    ("dnnlib.util", "EasyDict"): EasyDictRecord,
    ("dnnlib", "EasyDict"): EasyDictRecord,
    ("dnnlib.tflib.network", "Network"): record_class("dnnlib.tflib.network", "Network"),
}
for _np_core in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_np_core, "_reconstruct")] = _numpy_reconstruct
    ALLOWED[(_np_core, "scalar")] = _numpy_scalar
for _np_numeric in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED[(_np_numeric, "_frombuffer")] = _numpy_frombuffer
for _dtype in _TORCH_DTYPES:
    ALLOWED[("torch", _dtype)] = getattr(torch, _dtype)

# Plain torch.nn modules pickled inside NVlabs objects become inert records too.
_INERT_MODULE_PREFIXES = ("torch.nn.modules.",)


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        key = (module, name)
        if key in ALLOWED:
            return ALLOWED[key]
        if module.startswith(_INERT_MODULE_PREFIXES) and name.isidentifier():
            return record_class(module, name)
        raise UnsafePickleError(
            f"refused to load global '{module}.{name}': checkpoints may only use tensors, numpy arrays, "
            f"dicts and the StyleGAN classes stylegan_fast maps to inert records")

    def persistent_load(self, pid):
        raise UnsafePickleError(f"refused persistent id {pid!r}: plain pickles of checkpoints have none")


def load_pickle(file) -> Any:
    """Unpickle ``file`` (a path or a binary file object) with the allow-list."""
    if isinstance(file, (str, bytes)) or hasattr(file, "__fspath__"):
        with open(file, "rb") as f:
            return RestrictedUnpickler(f).load()
    return RestrictedUnpickler(file).load()
