"""The triton backend against the reference on a CUDA device (run by benchmarks/gpu_check.sh; skipped elsewhere).

Per op: the inputs each op really gets are recorded from reference forwards of small StyleGAN2
and StyleGAN1 generators (every layer shape, noise on, in the generator's dtype); every op with
a triton implementation (``stylegan_fast.backends.REGISTRY``) is then run on each recorded call,
by the triton and the reference implementation, against the reference in float64: fp32 to the
tolerance table, fp16/bf16 to the table for that dtype.

Whole generators: ``G.backend = "triton"`` against the reference backend: in fp32 within the fp32
table (x10, as tests/test_cuda.py: ~15 layers); in fp16/bf16 (and NVlabs' mixed precision,
``num_fp16_res``) at most twice as far from the float64 reference as the reference run in the
same precision (plus a small floor).

``STYLEGAN_FAST_GPU_TEST_DEVICE=cpu`` with ``TRITON_INTERPRET=1`` runs the same tests on CPU
tensors under the interpreter (slow): a check of this file on a machine without a GPU.
"""
import contextlib
import importlib.util
import os

import pytest
import torch

import stylegan_fast as sf
from stylegan_fast import backends
from stylegan_fast.backends import REGISTRY
from tests.op_helpers import render_seeds, seeded_generator
from tests.tolerances import TOLERANCES, assert_close

DEVICE = os.environ.get("STYLEGAN_FAST_GPU_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed"),
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.skipif(DEVICE != "cuda" and os.environ.get("TRITON_INTERPRET") != "1",
                       reason="on a CPU device the triton backend needs TRITON_INTERPRET=1"),
]

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Small generators that between them call every op: StyleGAN1 fuses its upscale conv from 128 px.
GENERATORS = {
    "stylegan2": dict(arch="stylegan2", resolution=64, z_dim=64, w_dim=64, channel_base=4096, channel_max=64),
    "stylegan1": dict(arch="stylegan1", resolution=128, z_dim=64, w_dim=64, channel_base=4096, channel_max=64),
}
if DEVICE != "cuda":  # the interpreter runs every program instance in numpy: narrow layers
    GENERATORS = {arch: dict(kw, channel_max=8, channel_base=1024) for arch, kw in GENERATORS.items()}
BATCH = 3
CALLS_PER_OP = 8  # distinct recorded calls (by shapes and settings) kept per op, per generator and dtype
TRITON_OPS = sorted(name for name, op in REGISTRY.items() if "triton" in op.implementations)


@pytest.fixture(scope="module", autouse=True)
def _exact_fp32():
    """No TF32 in torch's own convolutions and matmuls: fp32 means fp32 on both sides."""
    if DEVICE != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def build(arch, dtype=torch.float32, **overrides) -> sf.Generator:
    return seeded_generator({**GENERATORS[arch], **overrides}, DEVICE, dtype)


def run(G, backend, noise_mode="random"):
    return render_seeds(G, backend, BATCH, DEVICE, noise_mode)


def _signature(value):
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype)
    if isinstance(value, (list, tuple)):
        return tuple(_signature(v) for v in value)
    return value if isinstance(value, (int, float, str, bool, type(None), torch.dtype)) else type(value).__name__


def _clone(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


@contextlib.contextmanager
def recording(calls: dict):
    """Record (args, kwargs) of every reference implementation called inside, by op name."""
    saved = {name: op.implementations["reference"] for name, op in REGISTRY.items()}

    def recorder(name, fn):
        def call(*args, **kwargs):
            kept = calls.setdefault(name, {})
            key = _signature((args, sorted(kwargs.items())))
            if key not in kept and len(kept) < CALLS_PER_OP:
                kept[key] = (_clone(args), _clone(kwargs))
            return fn(*args, **kwargs)

        return call

    for name, op in REGISTRY.items():
        op.implementations["reference"] = recorder(name, saved[name])
    try:
        yield calls
    finally:
        for name, op in REGISTRY.items():
            op.implementations["reference"] = saved[name]


_recorded: dict = {}


def recorded_calls(dtype_name: str) -> dict:
    """{op name: [(generator, args, kwargs), ...]} from reference forwards of both generators in that dtype."""
    if dtype_name not in _recorded:
        out: dict = {}
        for arch in GENERATORS:
            calls: dict = {}
            with recording(calls):
                run(build(arch, DTYPES[dtype_name]), "reference")
            for name, kept in calls.items():
                out.setdefault(name, []).extend((arch, args, kwargs) for args, kwargs in kept.values())
        _recorded[dtype_name] = out
    return _recorded[dtype_name]


def _to(value, dtype):
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, dtype) for v in value)
    return value


def _outputs(value) -> list:
    return [value] if isinstance(value, torch.Tensor) else [v for v in value if isinstance(v, torch.Tensor)]


def call_impl(op, backend: str, args, kwargs, dtype=None):
    """One implementation on copies of the recorded arguments (floating tensors cast to ``dtype``), with the
    ops it calls inside dispatched to the same backend."""
    args, kwargs = (_clone(args), _clone(kwargs)) if dtype is None else (_to(args, dtype), _to(kwargs, dtype))
    with torch.no_grad(), backends.dispatching(backend, DEVICE):
        return _outputs(op.implementations[backend](*args, **kwargs))


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("op_name", TRITON_OPS)
def test_triton_op_matches_reference_on_generator_inputs(op_name, dtype_name):
    calls = recorded_calls(dtype_name).get(op_name)
    if not calls:
        pytest.fail(f"no test generator calls op {op_name!r} in {dtype_name}: add a generator to GENERATORS "
                    f"that uses it, so its triton kernel is checked on a GPU")
    op = REGISTRY[op_name]
    for arch, args, kwargs in calls:
        got = call_impl(op, "triton", args, kwargs)
        try:
            want = call_impl(op, "reference", args, kwargs, torch.float64)
        except (RuntimeError, TypeError, NotImplementedError):  # a reference that refuses float64
            want = call_impl(op, "reference", args, kwargs, torch.float32)
        same = call_impl(op, "reference", args, kwargs)
        shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
        assert len(got) == len(want), f"{op_name}: {len(got)} outputs, the reference has {len(want)}"
        for g, w, s in zip(got, want, same):
            assert g.dtype == s.dtype and g.shape == s.shape, (f"{op_name} {arch} {shapes}: triton gives {g.dtype} "
                                                              f"{list(g.shape)}, reference {s.dtype} {list(s.shape)}")
            assert torch.isfinite(g).all() or not torch.isfinite(s).all(), f"{op_name} {arch} {shapes}: non-finite"
            dtype = g.dtype if g.dtype in TOLERANCES else torch.float32
            assert_close(g, w.to(g.dtype), dtype, msg=f"{op_name} {arch} {dtype_name} inputs {shapes}:")


def _max_err(a, b) -> float:
    return (a.double() - b.double()).abs().max().item()


@pytest.mark.parametrize("noise_mode", ["const", "random"])
@pytest.mark.parametrize("arch", list(GENERATORS))
def test_triton_generator_matches_reference_fp32(arch, noise_mode):
    G = build(arch)
    want = run(G, "reference", noise_mode)
    got = run(G, "triton", noise_mode)
    assert set(G.last_dispatch.values()) == {"triton"}, G.last_dispatch
    assert_close(got, want, torch.float32, scale=10, msg=f"{arch} {noise_mode} triton vs reference (fp32):")


LOW_PRECISION = {"fp16": dict(dtype=torch.float16), "bf16": dict(dtype=torch.bfloat16),
                 "fp32-num_fp16_res=2": dict(dtype=torch.float32, num_fp16_res=2)}


@pytest.mark.parametrize("arch, precision", [(a, p) for p in LOW_PRECISION for a in GENERATORS
                                              if a == "stylegan2" or "num_fp16_res" not in p])  # StyleGAN1 has none
def test_triton_generator_low_precision_error_at_most_twice_the_reference(arch, precision):
    settings = dict(LOW_PRECISION[precision])
    dtype = settings.pop("dtype")
    if settings and DEVICE != "cuda":
        pytest.skip("num_fp16_res runs in float16 on CUDA only")
    exact = run(build(arch, torch.float64), "reference")
    G = build(arch, dtype, **settings)
    ref = run(G, "reference")
    got = run(G, "triton")
    assert set(G.last_dispatch.values()) == {"triton"}, G.last_dispatch
    assert torch.isfinite(ref).all(), f"{arch} {precision}: the reference itself is not finite"
    assert got.dtype == ref.dtype and torch.isfinite(got).all(), f"{arch} {precision}: non-finite triton output"
    ref_err, got_err = _max_err(ref, exact), _max_err(got, exact)
    floor = TOLERANCES[torch.float16 if settings else dtype]["atol"]
    assert got_err <= 2 * ref_err + floor, (
        f"{arch} {precision}: triton max abs err {got_err:.3e} from float64, the reference in the same precision "
        f"{ref_err:.3e} (allowed 2x + {floor:g}); mean abs err {(got.double() - exact).abs().mean().item():.3e}")


@pytest.fixture(params=["gemm", "torch"])
def conv_strategy(request, monkeypatch):
    """The triton backend's convolution strategy (STYLEGAN_FAST_TRITON_CONV); "auto" measures on a GPU."""
    from stylegan_fast.ops.triton_tuning import CONV_ENV

    monkeypatch.setenv(CONV_ENV, request.param)
    return request.param


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_styled_conv2d_every_strategy_and_tile_on_generator_inputs(dtype_name):
    """Every tile of the implicit-GEMM kernel (the tuner may pick any) and strategy (b), on the shapes the
    generator really has; compiler bugs that the interpreter cannot see show up here (pytorch issue 173068)."""
    from stylegan_fast.ops.styled_conv2d import triton_kernels as tk

    dtype = DTYPES[dtype_name]
    for arch, args, kwargs in recorded_calls(dtype_name)["styled_conv2d"]:
        want = call_impl(REGISTRY["styled_conv2d"], "reference", args, kwargs, torch.float64)[0]
        shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
        with torch.no_grad(), backends.dispatching("triton", DEVICE):
            got = {"torch": tk.styled_conv2d_torch(*_clone(args), **_clone(kwargs))}
            if tk.gemm_eligible(args[0], args[1], args[6], args[7]):
                for tile, sizes in enumerate(tk.gemm_tiles(dtype)):
                    got[f"gemm {sizes}"] = tk.styled_conv2d_gemm(*_clone(args), **_clone(kwargs), tile=tile)
        assert len(got) > 1 or args[1].shape[-1] != 3, f"{arch} {shapes}: a 3x3 layer did not run the GEMM kernel"
        for name, y in got.items():
            assert y.dtype == dtype and y.shape == want.shape, (name, y.dtype, list(y.shape))
            assert_close(y, want.to(dtype), dtype, msg=f"styled_conv2d {name} {arch} {dtype_name} {shapes}:")


@pytest.mark.parametrize("arch", list(GENERATORS))
def test_triton_generator_matches_reference_on_each_conv_strategy(arch, conv_strategy):
    G = build(arch)
    want = run(G, "reference")
    got = run(G, "triton")
    assert_close(got, want, torch.float32, scale=10, msg=f"{arch} triton ({conv_strategy} convolutions) vs reference:")


@pytest.mark.skipif(DEVICE != "cuda", reason="the tuner measures on CUDA devices only")
def test_tuner_measures_once_and_later_processes_read_its_cache(tmp_path):
    from stylegan_fast.ops.triton_tuning import Tuner

    x = torch.randn(256, 256, device=DEVICE)
    calls = []

    def launch(candidate):  # candidate 1 does 8x the work: candidate 0 must win
        calls.append(candidate)
        for _ in range(1 + 7 * candidate):
            x @ x

    first = Tuner(tmp_path / "tuning.json")
    assert first.choose(x.device, "key", [0, 1], launch) == 0
    assert set(calls) == {0, 1} and (tmp_path / "tuning.json").is_file()
    calls.clear()
    assert Tuner(tmp_path / "tuning.json").choose(x.device, "key", [0, 1], launch) == 0
    assert calls == []  # read from the file, nothing measured
