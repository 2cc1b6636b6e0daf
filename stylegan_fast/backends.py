"""Backends and the one place that decides which implementation of an op runs.

A backend is a family of implementations: "reference" (pure PyTorch, every op has one),
"triton", "cuda", "cpu" (our kernels). Each op (``ops/dispatch.Op``) is in ``REGISTRY`` with the
implementations it has.

Choosing happens here, in two steps:

1. ``plan_for(requested, device)`` turns a requested name into a :class:`Plan`, the backends to
   try per op in order. "auto" (or ``STYLEGAN_FAST_BACKEND`` when "auto" is asked) is
   ``AUTO_ORDER[device type]`` restricted to what can run on that device, reference last; an
   explicit name is that backend alone, after checking it can run here.
2. ``plan.pick(op)`` gives the op's implementation: the first backend of the plan that has one.
   Under "auto" a missing kernel falls back to the next backend; an explicit backend without an
   implementation of the op raises :class:`BackendUnavailableError` naming the op. Where
   gradients are needed, an implementation registered without a backward gives way to the
   reference.

A generator resolves its plan once per forward (``dispatching``); every op inside uses it and the
plan records which backend each op ran on (``Generator.last_dispatch``). An op called on its own
resolves a plan for its input's device (``backend=`` of the op, else "auto").

Under ``torch.compile`` the same choice is made once, while dynamo traces the forward: dynamo cannot
read a ContextVar, so the plans of the forwards it traces are kept on a plain stack (``_traced``),
and ``Op.__call__`` hands dynamo a kernel backend's implementation as its ``torch.library`` custom op
(``ops/custom_ops.py``), opaque to it; the reference is pure PyTorch and is traced through.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib.util
import os
from typing import Optional

import torch

BACKENDS = ("auto", "reference", "triton", "cuda", "cpu")
ENV_VAR = "STYLEGAN_FAST_BACKEND"

# Order in which "auto" tries backends, per device type (reference always last).
AUTO_ORDER = {"cuda": ("triton", "cuda", "reference"), "cpu": ("cpu", "reference")}
KERNEL_FAMILIES = {"triton": "Triton kernels", "cuda": "CUDA kernels", "cpu": "C++ CPU kernels"}
# True while dynamo traces (torch.compile), else False; torch < 2.3 lacks it (there each op's dispatch breaks the graph)
dynamo_compiling = getattr(torch.compiler, "is_dynamo_compiling", lambda: False)


class BackendUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run here, or has no implementation of an op."""


def check_backend_name(name: str) -> str:
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return name


# op name -> ops.dispatch.Op (its implementations by backend); every op adds itself when stylegan_fast.ops
# is imported, and a kernel module adds its implementation to the op (Op.register).
REGISTRY: dict = {}


def _registered_ops(backend: str) -> list[str]:
    return [name for name, op in REGISTRY.items() if backend in op.implementations]


def backend_status(name: str, device: torch.device | str = "cpu") -> tuple[bool, str]:
    """Whether backend ``name`` can run on ``device`` (for at least one op), and why not."""
    check_backend_name(name)
    device = torch.device(device)
    if name == "auto":
        return True, "picks per op, in the order " + " > ".join(AUTO_ORDER.get(device.type, ("reference",)))
    if name == "reference":
        return True, "pure PyTorch, runs on any device"
    if name == "triton":
        if importlib.util.find_spec("triton") is None:
            return False, "the triton package is not installed (pip install 'stylegan_fast[triton]')"
        if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            return False, (f"Triton kernels need a CUDA device (got {device.type}); TRITON_INTERPRET=1 runs them "
                           f"slowly on CPU")
    else:
        from . import _native  # local import: keeps `import stylegan_fast` cheap

        if not _native.native_available():
            return False, _native.native_error() or "the native module stylegan_fast._C is not built"
        if name == "cuda":
            if not _native.cuda_compiled():
                return False, "stylegan_fast._C was built without CUDA sources (nvcc not found at install time)"
            if device.type != "cuda":
                return False, f"the cuda backend needs a CUDA device (got {device.type})"
        elif device.type != "cpu":
            return False, f"the cpu backend needs a CPU device (got {device.type})"
    ops = _registered_ops(name)
    if not ops:
        return False, f"no {KERNEL_FAMILIES[name]} ship in this version yet"
    return True, f"kernels for {', '.join(ops)}"


@dataclasses.dataclass
class Plan:
    """The backends to try for every op, in order, for one device; and which one each op ran on."""

    requested: str  # as asked: "auto" or a backend name
    device: torch.device
    order: tuple[str, ...]
    needs_grad: bool = False
    ran: dict = dataclasses.field(default_factory=dict)  # op name -> backend
    chosen: dict = dataclasses.field(default_factory=dict, repr=False)  # (op name, dtype) -> backend; fresh() shares it

    def choose(self, op, dtype=None) -> str:
        """The backend ``op`` runs on under this plan for ``dtype`` inputs (raises if an explicit backend
        lacks it)."""
        for backend in self.order:
            if backend not in op.implementations:
                continue
            takes = op.dtypes.get(backend)
            if dtype is not None and takes is not None and dtype not in takes:
                if self.requested == "auto":
                    continue
                raise BackendUnavailableError(
                    f"backend {backend!r} has no implementation of op {op.name!r} for {dtype} (it takes "
                    f"{', '.join(str(t) for t in takes)}); use backend 'auto' or 'reference'")
            if self.needs_grad and backend not in op.differentiable:
                return "reference"  # its kernel has no backward
            return backend
        raise BackendUnavailableError(
            f"backend {self.requested!r} has no implementation of op {op.name!r} (it has: "
            f"{', '.join(op.implementations)}); use backend 'auto' to fall back per op")

    def pick(self, op, dtype=None):
        """The implementation ``op`` runs (recorded in ``ran``)."""
        backend = self.chosen.get((op.name, dtype))
        if backend is None:
            backend = self.chosen[op.name, dtype] = self.choose(op, dtype)
        self.ran[op.name] = backend
        return op.implementations[backend]

    def fresh(self) -> "Plan":
        return dataclasses.replace(self, ran={})


_plans: dict = {}


def plan_for(requested: Optional[str], device, needs_grad: bool = False) -> Plan:
    """The plan for ``requested`` (None: the environment's choice, else "auto") on ``device``."""
    env = os.environ.get(ENV_VAR) or "auto"
    if requested is None:
        requested = env
    check_backend_name(requested)
    device = torch.device(device)
    key = (requested, env, os.environ.get("TRITON_INTERPRET"), device, needs_grad)
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = _make_plan(requested, env, device, needs_grad)
    return plan


def forget_plans() -> None:
    """Drop the cached plans (a new implementation was registered)."""
    _plans.clear()


def _make_plan(requested: str, env: str, device: torch.device, needs_grad: bool) -> Plan:
    if requested == "auto" and env != "auto":
        check_backend_name(env)
        requested = env
    if requested == "auto":
        order = tuple(b for b in AUTO_ORDER.get(device.type, ("reference",)) if backend_status(b, device)[0])
        return Plan("auto", device, order or ("reference",), needs_grad)
    ok, reason = backend_status(requested, device)
    if not ok:
        raise BackendUnavailableError(f"backend {requested!r} is unavailable on {device}: {reason}")
    return Plan(requested, device, (requested,), needs_grad)


def resolve_backend(requested: Optional[str], device) -> str:
    """The backend ``requested`` runs on ``device`` where it has kernels: itself, or auto's first choice.

    Raises :class:`BackendUnavailableError` with the reason when an explicit backend cannot run here.
    """
    return plan_for(requested, device).order[0]


_active: contextvars.ContextVar[Optional[Plan]] = contextvars.ContextVar("stylegan_fast_plan", default=None)
_traced: list[Plan] = []  # the plans of the forwards dynamo is tracing, innermost last (it cannot read _active)


def active_plan() -> Optional[Plan]:
    """The plan of the forward in progress, if any."""
    if dynamo_compiling():
        return _traced[-1] if _traced else None
    return _active.get()


@contextlib.contextmanager
def dispatching(requested: Optional[str], device, needs_grad: bool = False):
    """Resolve a plan once and make every op inside use it; a plan already active (an enclosing
    forward) is kept. Yields the plan, whose ``ran`` then says where each op ran."""
    outer = active_plan()
    if outer is not None:
        yield outer
        return
    plan = plan_for(requested, device, needs_grad).fresh()
    if dynamo_compiling():
        _traced.append(plan)
        try:
            yield plan
        finally:
            _traced.pop()
        return
    token = _active.set(plan)
    try:
        yield plan
    finally:
        _active.reset(token)


@contextlib.contextmanager
def overriding(requested: str, device):
    """Like ``dispatching``, but replaces an enclosing forward's plan until the block ends: for work
    that must run on one backend whatever the caller's (e.g. the reference probing a weight)."""
    token = _active.set(plan_for(requested, device).fresh())
    try:
        yield
    finally:
        _active.reset(token)


class BackendChoice:
    """The backend a generator was asked for, shared by its mapping and synthesis networks (one value,
    not copies), and where each op of its last forward ran."""

    def __init__(self, name: str = "auto"):
        self.name = check_backend_name(name)
        self.last_dispatch: dict[str, str] = {}

    @contextlib.contextmanager
    def dispatching(self, device, needs_grad: bool = False):
        outermost = active_plan() is None
        with dispatching(self.name, device, needs_grad) as plan:
            yield plan
        if outermost:
            self.last_dispatch = dict(plan.ran)

    def __repr__(self):
        return f"BackendChoice({self.name!r})"


def dispatch_table(requested: Optional[str], device) -> dict[str, str]:
    """{op name: the backend it runs on} under ``requested`` on ``device`` (or why it cannot), every op."""
    try:
        plan = plan_for(requested, device)
    except (BackendUnavailableError, ValueError) as e:
        return {name: f"unavailable ({e})" for name in REGISTRY}
    table = {}
    for name, op in REGISTRY.items():
        try:
            table[name] = plan.choose(op)
        except BackendUnavailableError:
            table[name] = "missing"
    return table


def describe_dispatch(ran: dict[str, str]) -> str:
    """'reference' when every op ran there, else e.g. 'triton: adain, upfirdn2d; reference: torgb_skip'."""
    by_backend: dict[str, list[str]] = {}
    for op, backend in sorted(ran.items()):
        by_backend.setdefault(backend, []).append(op)
    if len(by_backend) <= 1:
        return next(iter(by_backend), "-")
    return "; ".join(f"{b}: {', '.join(ops)}" for b, ops in by_backend.items())
