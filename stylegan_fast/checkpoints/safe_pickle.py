"""A restricted unpickler for foreign checkpoints: nothing in a file is ever executed.

``pickle.load`` calls whatever a file names, and StyleGAN checkpoints name code: NVlabs'
``torch_utils.persistence`` re-executes module source stored inside the file, and the TF
pickles' ``Network.__setstate__`` does the same. Here every global a file asks for is looked
up in an allow-list of exactly what these formats use; objects of foreign classes become
inert :class:`Record` s holding their state, and anything else raises
:class:`UnsafePickleError` naming the refused global. Tensor storages embedded in a pickle
are read with ``torch.load(weights_only=True)``. ``torch_utils`` and ``dnnlib`` are never
imported.

Nothing a file does outlives its load: the allow-listed functions are handed out wrapped (a
pickle's BUILD could otherwise set e.g. ``__defaults__`` on torch's own functions), the inert
classes refuse attribute changes, tensors must be views inside their storage and carry no hooks.
``tests/hostile_pickles.py`` builds the hostile files this is checked against (``tests/test_safety_*.py``).
"""
from __future__ import annotations

import codecs
import collections
import contextlib
import io
import pickle
import re
from typing import Any

import numpy as np
import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks for a global outside the allow-list."""


class _Sealed(type):
    """Metaclass of the inert classes: a pickle cannot set or delete their class attributes.

    (BUILD on a global is ``setattr`` on it; the classes here outlive one load, so a file must not
    be able to change how the next file is read.)
    """

    def __setattr__(cls, name, value):
        raise UnsafePickleError(f"refused to set attribute {name!r} of class {cls.__qualname__}")

    def __delattr__(cls, name):
        raise UnsafePickleError(f"refused to delete attribute {name!r} of class {cls.__qualname__}")


class Record(metaclass=_Sealed):
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
    return _Sealed(name, (Record,), {"module": module, "name": name})


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


class EasyDictRecord(dict, metaclass=_Sealed):
    """dnnlib.util.EasyDict as a plain dict."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


class _Callable:
    """An allow-listed function as the unpickler hands it out: it can be called, nothing more.

    A pickle can BUILD (set state or attributes on) any object it names, including a global; on a
    plain function that would set e.g. ``__defaults__`` process-wide, poisoning every later load.
    This wrapper has no attributes a pickle can set and refuses ``__setstate__``.
    """

    __slots__ = ("_fn", "_qualname")

    def __init__(self, fn, qualname: str):
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "_qualname", qualname)

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def __setstate__(self, state):
        raise UnsafePickleError(f"refused to set state on global '{self._qualname}'")

    def __setattr__(self, name, value):
        raise UnsafePickleError(f"refused to set attribute {name!r} of global '{self._qualname}'")

    def __delattr__(self, name):
        raise UnsafePickleError(f"refused to delete attribute {name!r} of global '{self._qualname}'")

    def __reduce__(self):
        raise TypeError(f"global '{self._qualname}' from a checkpoint cannot be pickled again")

    def __repr__(self):
        return f"<allow-listed global {self._qualname}>"


def _refuse_weights_only(e: Exception, what: str) -> UnsafePickleError:
    """Our message for a torch weights-only refusal: the global it names (or torch's reason), without
    torch's advice to retry with weights_only=False (which would run the file's code)."""
    msg = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    found = re.search(r"GLOBAL (\S+)", msg)  # "Unsupported global: GLOBAL x.y was not ..." / "... GLOBAL x.y whose"
    if found:
        name = found.group(1) if "." in found.group(1) else f"builtins.{found.group(1)}"
        return UnsafePickleError(f"refused to load global '{name}' in {what} (read with torch weights-only "
                                 f"loading, which allows tensors and plain containers only)")
    reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", msg)
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip() and not ln.startswith("Check the documentation")]
    reason = reason.group(1) if reason else lines[-1] if lines else type(e).__name__
    return UnsafePickleError(f"refused {what}: torch weights-only loading failed: {reason}")


def load_torch_file(file, allow: tuple = ()) -> Any:
    """``torch.load(file, weights_only=True)`` on the CPU (torch zip files such as rosinality's).

    ``allow``: plain-data classes to admit beside torch's weights-only allow-list (rosinality's
    train.py stores an ``argparse.Namespace``). A global outside both raises
    :class:`UnsafePickleError` naming it; a file torch cannot parse raises :class:`pickle.UnpicklingError`.
    """
    try:
        with _weights_only_allowing(allow):
            return torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        raise _refuse_weights_only(e, "a torch file") from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
        raise pickle.UnpicklingError(f"unreadable torch file: {type(e).__name__}: {_first_line(e)}") from None


def _weights_only_allowing(classes: tuple):
    """torch.serialization.safe_globals(classes) where torch has it (>= 2.5)."""
    ser = torch.serialization
    if not classes:
        return contextlib.nullcontext()
    if hasattr(ser, "safe_globals"):
        return ser.safe_globals(list(classes))
    if hasattr(ser, "add_safe_globals"):  # torch 2.4: process-wide (callers pass plain-data classes only)
        ser.add_safe_globals(list(classes))
    return contextlib.nullcontext()


def _first_line(e) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


_STORAGE_TYPES = (torch.UntypedStorage, torch.storage.TypedStorage)


def _check_storage(storage) -> None:
    if not isinstance(storage, _STORAGE_TYPES):
        raise pickle.UnpicklingError(f"a tensor must be built from a storage, got {type(storage).__name__}")


def _check_view(storage, storage_offset, size, stride) -> None:
    """The view must lie inside its storage: Tensor.set_ would otherwise grow the storage to fit
    (a file could ask for any amount of memory) instead of failing."""
    try:
        offset, size, stride = int(storage_offset), [int(n) for n in size], [int(n) for n in stride]
    except (TypeError, ValueError):
        raise pickle.UnpicklingError("invalid tensor in the file: size, stride and offset must be integers") from None
    # elements of a typed storage (_size: size() warns that TypedStorage is deprecated), bytes of an untyped one
    numel = storage._size() if isinstance(storage, torch.storage.TypedStorage) else storage.size()
    if len(size) != len(stride) or offset < 0 or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError(f"invalid tensor in the file: size {size}, stride {stride}, offset {offset}")
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= numel:
        raise pickle.UnpicklingError(f"invalid tensor in the file: a view of size {size}, stride {stride} at "
                                     f"offset {offset} does not fit its storage of {numel} elements")


def _load_storage_from_bytes(b: bytes):
    """torch.storage._load_from_bytes with weights_only loading (no code in nested blobs)."""
    if not isinstance(b, (bytes, bytearray)):
        raise UnsafePickleError(f"embedded tensor storage must be bytes, got {type(b).__name__}")
    try:
        storage = torch.load(io.BytesIO(b), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        raise _refuse_weights_only(e, "an embedded tensor storage") from None
    except Exception as e:  # noqa: BLE001 - weights-only loading runs no code: anything else is a corrupt blob
        raise pickle.UnpicklingError(f"corrupt embedded tensor storage: {type(e).__name__}: {e}") from None
    _check_storage(storage)
    return storage


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    # torch never pickles hooks (they would be callables run at backward time): none are accepted.
    _check_storage(storage)
    _check_view(storage, storage_offset, size, stride)
    if backward_hooks:
        raise UnsafePickleError("refused a tensor with backward hooks: checkpoints carry none")
    try:
        return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
                                               collections.OrderedDict(), metadata)
    except RuntimeError as e:  # e.g. bad tensor metadata
        raise pickle.UnpicklingError(f"invalid tensor in the file: {e}") from None


def _rebuild_tensor(storage, storage_offset, size, stride):
    _check_storage(storage)
    _check_view(storage, storage_offset, size, stride)
    try:
        return torch._utils._rebuild_tensor(storage, storage_offset, size, stride)
    except RuntimeError as e:
        raise pickle.UnpicklingError(f"invalid tensor in the file: {e}") from None


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"a Parameter must wrap a tensor, got {type(data).__name__}")
    if backward_hooks:
        raise UnsafePickleError("refused a Parameter with backward hooks: checkpoints carry none")
    return torch.nn.Parameter(data, requires_grad)


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Protocols 0-2 store bytes as codecs.encode(str, 'latin1'); no other use is accepted.
    if encoding not in ("latin1", "latin-1") or not isinstance(obj, str) or errors != "strict":
        raise UnsafePickleError(f"refused _codecs.encode with encoding {encoding!r}")
    return codecs.encode(obj, "latin1")


def _empty_bytes(*args):
    # Protocols 0-2 store b"" as a call of builtins.bytes with no arguments; nothing else is accepted.
    if args:
        raise UnsafePickleError("refused builtins.bytes with arguments")
    return b""


_np_multiarray = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core to numpy._core
_np_multiarray = _np_multiarray.multiarray


def _numpy_reconstruct(subtype, shape, dtype):
    # numpy's ndarray.__reduce__: an empty plain ndarray, filled in by BUILD (ndarray.__setstate__).
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"refused numpy _reconstruct of {subtype!r}: only plain ndarrays")
    return _np_multiarray._reconstruct(subtype, shape, dtype)


def _numpy_scalar(dtype, *args):
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"refused numpy scalar with dtype {type(dtype).__name__}")
    return _np_multiarray.scalar(dtype, *args)


def _numpy_frombuffer(buf, dtype, shape, order):
    # Protocol 5 pickles of numpy arrays; dtype must already be a numpy dtype (itself allow-listed).
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"refused numpy _frombuffer with dtype {type(dtype).__name__}")
    if not isinstance(buf, (bytes, bytearray, memoryview, pickle.PickleBuffer)):
        raise UnsafePickleError(f"refused numpy _frombuffer of a {type(buf).__name__}")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy(order="K")  # writable, same layout


def _reconstructor(cls, base, state):
    # copyreg._reconstructor (protocols 0 and 1): only ever builds our inert classes.
    if not (isinstance(cls, type) and issubclass(cls, (Record, EasyDictRecord))):
        raise UnsafePickleError(f"refused copyreg._reconstructor for {cls!r}")
    return cls.__new__(cls)


_TORCH_DTYPES = {name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)}

# Every global a checkpoint may name, by exact (module, name): nothing is imported or looked up by
# attribute. Functions are wrapped in _Callable (see there); the classes are immutable builtin or
# extension types, or our inert records.
ALLOWED: dict[tuple[str, str], Any] = {
    # containers and what protocols 0-2 use to spell bytes and plain objects
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "object"): object,
    ("builtins", "bytes"): _Callable(_empty_bytes, "builtins.bytes"),
    ("copyreg", "_reconstructor"): _Callable(_reconstructor, "copyreg._reconstructor"),
    ("_codecs", "encode"): _Callable(_codecs_encode, "_codecs.encode"),
    # tensors (what Tensor/Parameter/Storage.__reduce_ex__ write)
    ("torch._utils", "_rebuild_tensor_v2"): _Callable(_rebuild_tensor_v2, "torch._utils._rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor"): _Callable(_rebuild_tensor, "torch._utils._rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"): _Callable(_rebuild_parameter, "torch._utils._rebuild_parameter"),
    ("torch.storage", "_load_from_bytes"): _Callable(_load_storage_from_bytes, "torch.storage._load_from_bytes"),
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    # numpy arrays (TF checkpoints) and dtypes
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # StyleGAN classes, as inert records
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentRecord,
    ("dnnlib.util", "EasyDict"): EasyDictRecord,
    ("dnnlib", "EasyDict"): EasyDictRecord,
    ("dnnlib.tflib.network", "Network"): record_class("dnnlib.tflib.network", "Network"),
}
for _np_core in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1 and numpy 2 writers
    ALLOWED[(_np_core, "_reconstruct")] = _Callable(_numpy_reconstruct, f"{_np_core}._reconstruct")
    ALLOWED[(_np_core, "scalar")] = _Callable(_numpy_scalar, f"{_np_core}.scalar")
for _np_numeric in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED[(_np_numeric, "_frombuffer")] = _Callable(_numpy_frombuffer, f"{_np_numeric}._frombuffer")
for _dtype in _TORCH_DTYPES:
    ALLOWED[("torch", _dtype)] = getattr(torch, _dtype)

# Python 3 writes these module names for protocols 0-2 (fix_imports), as Python 2 did; the name is
# then looked up exactly like any other. No other renaming is done.
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

# Plain torch.nn modules pickled inside NVlabs objects become inert records too (never the real
# class): the module must be a dotted path of identifiers under this prefix, the name one
# identifier that is not a dunder.
_INERT_MODULE_PREFIXES = ("torch.nn.modules.",)


def _is_inert_name(module: str, name: str) -> bool:
    return (isinstance(module, str) and isinstance(name, str) and module.startswith(_INERT_MODULE_PREFIXES)
            and all(part.isidentifier() for part in module.split("."))
            and name.isidentifier() and not name.startswith("__"))


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` resolving globals only through :data:`ALLOWED` (exact names, no
    attribute walking: ``'os.path'``/``'join'`` or ``'torch'``/``'_utils._rebuild_tensor_v2'`` are
    refused) and refusing persistent ids. EXT1/2/4 (copyreg extension codes) resolve through
    ``find_class`` as well, unless copyreg's process-wide extension cache already holds the code:
    CPython registers no codes and nothing here does."""

    def find_class(self, module: str, name: str):
        key = (_MODULE_ALIASES.get(module, module), name)
        if key in ALLOWED:
            return ALLOWED[key]
        if _is_inert_name(module, name):
            return record_class(module, name)
        raise UnsafePickleError(
            f"refused to load global '{module}.{name}': checkpoints may only use tensors, numpy arrays, "
            f"dicts and the StyleGAN classes stylegan_fast maps to inert records")

    def persistent_load(self, pid):
        raise UnsafePickleError(f"refused persistent id {pid!r}: plain pickles of checkpoints have none")


def load_pickle(file) -> Any:
    """Unpickle ``file`` (a path or a binary file object) with the allow-list.

    Out-of-band buffers (protocol 5) are not supplied, so a pickle that needs them is refused.
    """
    if isinstance(file, (str, bytes)) or hasattr(file, "__fspath__"):
        with open(file, "rb") as f:
            return RestrictedUnpickler(f).load()
    return RestrictedUnpickler(file).load()
