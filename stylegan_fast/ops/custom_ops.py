"""The kernel backends' op implementations as ``torch.library`` custom ops, for ``torch.compile``.

Dynamo cannot trace into our kernels (Triton launchers, raw pointers handed to stylegan_fast._C).
While it traces a forward, ``Op.__call__`` (ops/dispatch.py) gives it ``traced_implementation``: for
a kernel backend, a call of the custom op ``stylegan_fast::<op name>``, opaque to dynamo, that runs
that backend's implementation when the compiled graph runs. The backend is chosen once, at trace
time, by the forward's plan as in eager mode; the reference is pure PyTorch and is traced through
(no custom op), but for ``OPAQUE_REFERENCES``. Custom ops have no backward here: where gradients are
needed, the reference runs.

One schema serves every op, so an op registered in ops/dispatch needs no code here:

    stylegan_fast::<op>(str backend, str requested, Tensor[] tensors, str arguments) -> Tensor[]

``tensors`` are the call's tensor arguments in order and ``arguments`` is the rest of the call as
JSON, each tensor written as ``{"@tensor": i}`` (a constant of the graph, encoded once at trace
time); ``requested`` is the forward's requested backend ("auto", ...), which the ops a composition
calls dispatch on. The outputs are the op's result, a tensor or a tuple of tensors and Nones, as a
list of its tensors; which entries are None depends on the arguments only, and is what the
reference returned for them.

The fake implementation runs the op's reference on the fake tensors. Both give every 4-D output the
memory format of the call's first 4-D tensor (channels_last in, channels_last out); no output shares
an input's storage.
"""
import functools
import json

import torch
import torch._dynamo

from .. import backends

REGISTRY = backends.REGISTRY
NAMESPACE = "stylegan_fast"
# References run as custom ops too, not traced through: inductor's lowering of noise_stream's 10-round Philox
# (an expression tree that doubles every round) does not finish.
OPAQUE_REFERENCES = frozenset({"noise_stream"})


def traced_implementation(op, plan, dtype=None):
    """What dynamo traces for ``op`` under ``plan`` (recorded in ``plan.ran`` as in eager mode)."""
    backend = "reference" if plan.needs_grad else plan.choose(op, dtype)
    plan.ran[op.name] = backend
    if backend == "reference" and op.name not in OPAQUE_REFERENCES:
        return op.implementations[backend]
    return traced_call(op, backend, plan.requested)


def traced_call(op, backend: str, requested: str):
    """What dynamo traces in place of ``op.implementations[backend]``: its custom op, same signature."""
    def call(*args, **kwargs):
        tensors, arguments = split_call(op.name, args, kwargs)
        outputs = getattr(getattr(torch.ops, NAMESPACE), op.name).default(backend, requested, tensors, arguments)
        return unflatten(outputs, _structure(op.name, arguments))

    return call


def split_call(name: str, args: tuple, kwargs: dict) -> tuple[list, str]:
    """A call of op ``name`` as its custom op takes it: (its tensors, the ``arguments`` string)."""
    tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
    slots = tuple(i for i, a in enumerate(args) if isinstance(a, torch.Tensor)) + \
        tuple(k for k, v in kwargs.items() if isinstance(v, torch.Tensor))
    rest = tuple(None if isinstance(a, torch.Tensor) else a for a in args)
    rest_kwargs = tuple((k, None if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items())
    return tensors, _encode(name, rest, rest_kwargs, slots)


@torch._dynamo.assume_constant_result  # run once while dynamo traces; the string is a constant of the graph
def _encode(name: str, args: tuple, kwargs: tuple, slots: tuple) -> str:
    custom_op(name)  # defined before dynamo looks it up in torch.ops
    index = iter(range(len(slots)))
    args = [{"@tensor": next(index)} if i in slots else _to_json(name, a) for i, a in enumerate(args)]
    kwargs = [[k, {"@tensor": next(index)} if k in slots else _to_json(name, v)] for k, v in kwargs]
    return json.dumps({"args": args, "kwargs": kwargs})


def _to_json(name: str, value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        items = [_to_json(name, v) for v in value]
        return {"@tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, torch.dtype):
        return {"@dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"@device": str(value)}
    raise TypeError(f"op {name!r} under torch.compile: cannot pass an argument of type {type(value).__name__} "
                    f"({value!r}) to its custom op; it takes tensors, None, bool, int, float, str, dtypes, devices "
                    f"and tuples/lists of those (tensors only at the top level)")


class _TensorAt(int):
    """The index into ``tensors`` of a tensor argument."""


_DECODERS = {"@tensor": _TensorAt, "@tuple": tuple, "@dtype": lambda name: getattr(torch, name),
             "@device": torch.device}


def _from_json(obj: dict):
    key = next(iter(obj), None)
    return _DECODERS[key](obj[key]) if len(obj) == 1 and key in _DECODERS else obj


@functools.lru_cache(maxsize=4096)
def _decoded(arguments: str) -> tuple[list, dict]:
    call = json.loads(arguments, object_hook=_from_json)
    return call["args"], dict(call["kwargs"])


def join_call(tensors: list, arguments: str) -> tuple[list, dict]:
    """The inverse of ``split_call``: (args, kwargs) of the implementation."""
    args, kwargs = _decoded(arguments)
    fill = lambda a: tensors[a] if isinstance(a, _TensorAt) else a  # noqa: E731
    return [fill(a) for a in args], {k: fill(v) for k, v in kwargs.items()}


def _memory_format(out: torch.Tensor, tensors) -> torch.memory_format:
    """A 4-D output's: channels_last when the call's first 4-D tensor is (and is not also plain contiguous)."""
    first = next((t for t in tensors if t.ndim == 4), None)
    if out.ndim == 4 and first is not None and not first.is_contiguous() and \
            first.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


# (op name, arguments) -> the structure of its result: "" a tensor, else one letter per tuple entry, "t" a tensor and
# "n" None. Written by the fake implementation, which dynamo runs on the call before it traces on.
_structures: dict[tuple[str, str], str] = {}


def flatten(result) -> tuple[list, str]:
    """An op's result -> (its tensors, its structure)."""
    if isinstance(result, torch.Tensor):
        return [result], ""
    return [t for t in result if t is not None], "".join("n" if t is None else "t" for t in result)


def unflatten(outputs: list, structure: str):
    if not structure:
        return outputs[0]
    tensors = iter(outputs)
    return tuple(None if kind == "n" else next(tensors) for kind in structure)


@torch._dynamo.assume_constant_result
def _structure(name: str, arguments: str) -> str:
    return _structures[name, arguments]


@functools.lru_cache(maxsize=None)
def custom_op(name: str):
    """The custom op ``stylegan_fast::<name>`` of op ``name`` (defined at the first call)."""
    op = REGISTRY[name]

    def run(backend: str, requested: str, tensors: list[torch.Tensor], arguments: str) -> list[torch.Tensor]:
        args, kwargs = join_call(tensors, arguments)
        with backends.overriding(requested, tensors[0].device if tensors else "cpu"):
            outputs, _ = flatten(op.implementations[backend](*args, **kwargs))
        storages = {t.untyped_storage().data_ptr() for t in tensors}
        for i, out in enumerate(outputs):
            out = out.contiguous(memory_format=_memory_format(out, tensors))
            storage = out.untyped_storage().data_ptr()
            if storage in storages:  # e.g. an identity epilogue returned its input: a custom op's outputs are new
                out = out.clone()
            storages.add(storage)
            outputs[i] = out
        return outputs

    def fake(backend: str, requested: str, tensors: list[torch.Tensor], arguments: str) -> list[torch.Tensor]:
        args, kwargs = join_call(tensors, arguments)
        with backends.overriding("reference", tensors[0].device if tensors else "cpu"):
            outputs, _structures[name, arguments] = flatten(op.implementations["reference"](*args, **kwargs))
        return [torch.empty_like(out, memory_format=_memory_format(out, tensors)) for out in outputs]

    run.__name__ = fake.__name__ = name
    defined = torch.library.custom_op(f"{NAMESPACE}::{name}", run, mutates_args=())
    defined.register_fake(fake)
    return getattr(getattr(torch.ops, NAMESPACE), name).default
