"""The cuda backend (csrc/cuda) against the reference on a CUDA device (run by benchmarks/gpu_check.sh;
skipped elsewhere), and the checks its Python side makes before any launch (run everywhere).

Per op: the cuda implementation on hand-made calls (odd sizes, batch 1, every noise mode, NCHW and
channels_last inputs) against the reference run in float64 on the same inputs: fp32 to the tolerance
table, fp16/bf16 to the table for that dtype; outputs keep the input's memory format. Whole generators:
``G.backend = "cuda"`` against "reference" (fp32 within the fp32 table x10, as tests/test_cuda.py; fp16
and bf16 at most twice as far from float64 as the reference in the same precision), random-noise images
equal to the triton backend's, and a CUDA-graph replay equal to the eager forward.

``STYLEGAN_FAST_GPU_TEST_DEVICE=cpu`` runs the GPU tests on CPU tensors where backend "cuda" reports it
can run there (a CPU emulation of the kernels patched in); otherwise they are skipped.
"""
import importlib.util
import os

import pytest
import torch

import stylegan_fast as sf
from stylegan_fast import ops
from stylegan_fast.backends import REGISTRY, backend_status
from stylegan_fast.ops import cuda_support
from stylegan_fast.ops.modulated_conv2d.reference import transposed_fir_padding
from tests.op_helpers import render_seeds, seeded_generator
from tests.tolerances import TOLERANCES, assert_close

DEVICE = os.environ.get("STYLEGAN_FAST_GPU_TEST_DEVICE", "cuda")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
LAYOUTS = ("nchw", "channels_last")
CUDA_OPS = ("adain", "modulated_conv2d", "noise_bias_act", "noise_stream", "styled_conv2d", "stylegan1_conv2d",
            "torgb_skip", "upfirdn2d", "upscale_conv2d")


def _why_not() -> str:
    if DEVICE == "cuda" and not torch.cuda.is_available():
        return "needs a CUDA device"
    ok, reason = backend_status("cuda", DEVICE)
    return "" if ok else f"backend 'cuda' cannot run on {DEVICE}: {reason}"


gpu = pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "runs")


@pytest.fixture(scope="module", autouse=True)
def _exact_fp32():
    """No TF32 in torch's own convolutions and matmuls: fp32 means fp32 on both sides."""
    if DEVICE != "cuda" or not torch.cuda.is_available():
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# ---------------------------------------------------------------------------------------------
# Checks before any launch (run everywhere)

def _cpu_calls():
    """(op, the cuda implementation's module function, arguments on the CPU) for every op."""
    from stylegan_fast.ops.adain import cuda as adain
    from stylegan_fast.ops.modulated_conv2d import cuda as modulated
    from stylegan_fast.ops.noise_bias_act import cuda as nba
    from stylegan_fast.ops.noise_stream import cuda as stream
    from stylegan_fast.ops.styled_conv2d import cuda as styled
    from stylegan_fast.ops.stylegan1_conv2d import cuda as sg1
    from stylegan_fast.ops.torgb_skip import cuda as torgb
    from stylegan_fast.ops.upfirdn2d import cuda as fir
    from stylegan_fast.ops.upscale_conv2d import cuda as upscale

    x, w, s = torch.randn(2, 4, 8, 8), torch.randn(5, 4, 3, 3), torch.randn(2, 4)
    f = ops.setup_filter([1, 3, 3, 1])
    return [
        ("noise_bias_act", nba.noise_bias_act, (x, None, None, None, "lrelu", 0.2, 2 ** 0.5, None)),
        ("upfirdn2d", fir.upfirdn2d, (x, f, 2, 1, (2, 1, 2, 1), False, 4.0)),
        ("modulated_conv2d", modulated.modulated_conv2d, (x, w, s, True, 1, None)),
        ("styled_conv2d", styled.styled_conv2d, (x, w, s, torch.zeros(5), None, None, 1, None, None)),
        ("torgb_skip", torgb.torgb_skip, (x, torch.randn(3, 4, 1, 1), s, torch.zeros(3), None, None, None)),
        ("adain", adain.adain, (x, torch.ones(2, 4), torch.zeros(2, 4), 1e-8)),
        ("noise_stream", stream.noise_stream, (torch.tensor([1, 2]), 0, 4, 4)),
        ("upscale_conv2d", upscale.upscale_conv2d, (x, w[:, :4], True)),
        ("stylegan1_conv2d", sg1.stylegan1_conv2d, (x, w, 0.1, "same", False, None, torch.zeros(5), None, None)),
    ]


def test_cpu_tensors_are_refused_before_any_launch(monkeypatch):
    def no_launch(*args, **kwargs):
        raise AssertionError("a kernel binding was reached")

    monkeypatch.setattr(cuda_support, "native", no_launch)
    monkeypatch.setattr(cuda_support, "launch", no_launch)
    calls = _cpu_calls()
    assert sorted(op for op, _, _ in calls) == sorted(CUDA_OPS)
    for op, fn, args in calls:
        with pytest.raises(ValueError, match=r"is on cpu; the cuda backend's kernels take tensors on a CUDA device"
                                             r"|draws maps on a CUDA device"):
            fn(*args)


def test_kernel_input_names_the_argument_and_what_is_accepted():
    ki = cuda_support.kernel_input
    with pytest.raises(ValueError, match=r"x has dtype torch.float64; the cuda backend's kernels take float32, "
                                         r"float16, bfloat16"):
        ki("x", torch.zeros(1, 2, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"bias must have shape \[4\], got \[5\]"):
        ki("bias", torch.zeros(5), [4])
    with pytest.raises(ValueError, match=r"skip must have shape \[2, 3, \*, \*\], got \[2, 3, 4\]"):
        ki("skip", torch.zeros(2, 3, 4), [2, 3, -1, -1])
    with pytest.raises(ValueError, match="styles must be a torch.Tensor, got list"):
        ki("styles", [1.0, 2.0])
    with pytest.raises(ValueError, match=r"x is on cpu; the cuda backend's kernels take tensors on a CUDA device"):
        ki("x", torch.zeros(1, 2, 3, 3))
    assert ki("noise", None) is None


def test_registration_and_status_follow_the_build():
    built = cuda_support.kernels_built()
    for name in CUDA_OPS:
        assert ("cuda" in REGISTRY[name].implementations) == built, name
    ok, reason = backend_status("cuda", "cpu")
    assert not ok
    if built:
        assert reason == "the cuda backend needs a CUDA device (got cpu)", reason
    else:
        assert "without CUDA" in reason or "not built" in reason, reason


def test_memory_format_helpers():
    x = torch.zeros(2, 3, 4, 5)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert cuda_support.memory_format(x) == torch.contiguous_format
    assert cuda_support.memory_format(cl) == torch.channels_last
    assert cuda_support.empty([2, 7, 4, 5], cl).is_contiguous(memory_format=torch.channels_last)
    assert cuda_support.strides(cl) == (60, 1, 15, 3)
    one = torch.zeros(2, 3, 1, 1)  # both layouts at once: kept contiguous
    assert cuda_support.memory_format(one.contiguous(memory_format=torch.channels_last)) == torch.contiguous_format


def test_doctor_says_what_driver_the_cuda_build_needs():
    from stylegan_fast.cli.system import cuda_driver_note

    assert cuda_driver_note(13000, 13000) == ("built with CUDA 13.0, which needs NVIDIA driver 580 or newer; this "
                                              "driver supports CUDA 13.0: ok")
    too_old = cuda_driver_note(13000, 12080)
    assert "needs NVIDIA driver 580 or newer" in too_old and "supports CUDA 12.8 only" in too_old
    assert cuda_driver_note(13000, 0).endswith("no NVIDIA driver found")


# ---------------------------------------------------------------------------------------------
# Ops against the float64 reference (GPU)

def _randn(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(DEVICE)


def _layout(t, layout):
    if layout == "channels_last" and isinstance(t, torch.Tensor) and t.ndim == 4:
        return t.contiguous(memory_format=torch.channels_last)
    return t


def _cast(v, dtype):
    if isinstance(v, torch.Tensor) and v.is_floating_point():
        return v.to(dtype)
    return v


def check_op(name, args, kwargs, dtype, layout="nchw", cast=(0,), scale=1.0):
    """Run op ``name`` on backend cuda (arguments ``cast`` in ``dtype``, 4-D ones in ``layout``) and on the
    reference in float64 (every floating argument); compare with the tolerance of ``dtype`` (the inputs'
    precision, also for a float32 output)."""
    op = getattr(ops, name)
    got_args = [(_layout(_cast(a, dtype), layout) if i in cast else a) for i, a in enumerate(args)]
    got = op(*got_args, **kwargs, backend="cuda")
    want = op(*[_cast(a, torch.float64) for a in args], **{k: _cast(v, torch.float64) for k, v in kwargs.items()},
              backend="reference")
    assert got.shape == want.shape, (name, list(got.shape), list(want.shape))
    first = got_args[0]
    if layout == "channels_last" and isinstance(first, torch.Tensor) and first.ndim == 4 and got.ndim == 4 \
            and got.shape[1] > 1 and got.shape[2] * got.shape[3] > 1:
        assert got.is_contiguous(memory_format=torch.channels_last), f"{name}: the output is not channels_last"
    assert torch.isfinite(got).all(), f"{name}: non-finite output"
    shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
    assert_close(got, want.to(got.dtype), dtype, scale=scale,
                 msg=f"{name} {str(dtype).removeprefix('torch.')} {layout} {shapes}:")
    return got


NOISE = ("none", "per-sample", "shared")


def _noise(mode, n, h, w, seed=5):
    return None if mode == "none" else _randn(n if mode == "per-sample" else 1, 1, h, w, seed=seed)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("shape, act, noise_mode, per_channel, clamp", [
    ((1, 3, 5, 7), "lrelu", "per-sample", False, None),
    ((4, 16, 8, 8), "lrelu", "shared", True, 0.5),
    ((2, 5, 1, 1), "relu", "per-sample", True, None),
    ((3, 6, 9, 4), "linear", "none", False, 2.0),
    ((2, 32), "lrelu", "none", False, None),
], ids=["1x3x5x7-noise", "4x16x8x8-shared-clamp", "2x5x1x1-relu", "3x6x9x4-linear", "2x32"])
def test_noise_bias_act_matches_reference(shape, act, noise_mode, per_channel, clamp, dtype_name, layout):
    x = _randn(*shape, scale=2.0)
    n, c = shape[:2]
    noise = _noise(noise_mode, n, *shape[2:]) if len(shape) == 4 else None
    strength = _randn(c if per_channel else 1, seed=2).reshape(-1 if per_channel else []) if noise is not None else None
    for bias in (None, _randn(c, seed=3)):
        check_op("noise_bias_act", (x, bias, noise, strength), dict(act=act, clamp=clamp), DTYPES[dtype_name], layout)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("case", ["up2-1331", "after-transposed-conv", "blur-121", "down2-separable-8", "up3-down2-5x3",
                                  "crop-4x4", "no-filter"])
def test_upfirdn2d_matches_reference(case, dtype_name, layout):
    x = _randn(2, 3, 7, 6)
    f1331, f121 = ops.setup_filter([1, 3, 3, 1]).to(DEVICE), ops.setup_filter([1, 2, 1]).to(DEVICE)
    kwargs = {
        "up2-1331": dict(f=f1331, up=2, padding=(2, 1, 2, 1), gain=4),  # upsample2d: 4x4 taps, up 2
        "after-transposed-conv": dict(f=f1331, padding=transposed_fir_padding(f1331, (1, 1, 3, 3), 2), gain=4),
        "blur-121": dict(f=f121, padding=1),  # filter2d with StyleGAN1's blur: 3x3 taps
        "down2-separable-8": dict(f=ops.setup_filter([1, 3, 5, 7, 7, 5, 3, 1]).to(DEVICE), down=2, padding=3),
        "up3-down2-5x3": dict(f=_randn(5, 3, seed=4), up=3, down=2, padding=(1, 2, -1, 3), flip_filter=True, gain=1.5),
        "crop-4x4": dict(f=_randn(4, 4, seed=6), padding=(-1, 0, 2, -2)),
        "no-filter": dict(f=None, up=2, down=3, padding=(0, 1, 1, 0)),
    }[case]
    f = kwargs.pop("f")
    check_op("upfirdn2d", (x, f), kwargs, DTYPES[dtype_name], layout)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("n, i, o, h, w, k, up, demodulate", [
    (1, 3, 5, 7, 6, 3, 1, True), (3, 16, 8, 8, 8, 3, 2, True), (2, 8, 4, 5, 5, 1, 1, False),
    (2, 9, 8, 4, 3, 3, 1, False), (5, 300, 20, 4, 4, 3, 1, True), (30, 8, 17, 3, 3, 3, 1, True)],
    ids=["1x3-5-7x6", "3x16-8-up", "1x1-nodemod", "9-8-nodemod", "5x300-20", "30x8-17"])
def test_modulated_conv2d_matches_reference(n, i, o, h, w, k, up, demodulate, dtype_name, layout):
    x, weight, styles = _randn(n, i, h, w), _randn(o, i, k, k, seed=1), _randn(n, i, seed=2) + 1
    f = ops.setup_filter([1, 3, 3, 1]).to(DEVICE) if up == 2 else None
    check_op("modulated_conv2d", (x, weight, styles), dict(demodulate=demodulate, up=up, resample_filter=f),
             DTYPES[dtype_name], layout)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("noise_mode", NOISE)
@pytest.mark.parametrize("n, i, o, h, w, up, clamp", [(1, 3, 5, 7, 6, 1, None), (3, 16, 8, 4, 5, 2, 0.3),
                                                      (2, 8, 33, 8, 8, 1, 256.0)],
                         ids=["1x3-5-7x6", "3x16-8-up", "2x8-33-clamp"])
def test_styled_conv2d_matches_reference(n, i, o, h, w, up, clamp, noise_mode, dtype_name, layout):
    x, weight, styles = _randn(n, i, h, w), _randn(o, i, 3, 3, seed=1), _randn(n, i, seed=2) + 1
    bias, strength = _randn(o, seed=3), _randn(1, seed=4).reshape([])
    noise = _noise(noise_mode, n, h * up, w * up)  # float32, as the generator passes it
    f = ops.setup_filter([1, 3, 3, 1]).to(DEVICE) if up == 2 else None
    check_op("styled_conv2d", (x, weight, styles, bias, noise, strength if noise is not None else None),
             dict(up=up, resample_filter=f, clamp=clamp), DTYPES[dtype_name], layout)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("case", ["skip", "no-skip", "skip-fp32", "separable-filter", "5-channels", "8-tap-filter"])
def test_torgb_skip_matches_reference(case, dtype_name, layout):
    dtype = DTYPES[dtype_name]
    o = 5 if case == "5-channels" else 3
    n, c, h, w = 2, 24, 10, 6
    x, weight, styles, bias = _randn(n, c, h, w), _randn(o, c, 1, 1, seed=1), _randn(n, c, seed=2), _randn(o, seed=3)
    skip = None if case == "no-skip" else _randn(n, o, h // 2, w // 2, seed=4)
    f = {"separable-filter": torch.tensor([1.0, 3, 3, 1]) / 8,
         "8-tap-filter": ops.setup_filter([1, 3, 5, 7, 7, 5, 3, 1])}.get(case, ops.setup_filter([1, 3, 3, 1]))
    cast = (0, 4) if case != "skip-fp32" else (0,)  # skip-fp32: x in dtype, the image in float32 (mixed precision)
    got = check_op("torgb_skip", (x, weight, styles, bias, skip, f.to(DEVICE)), dict(clamp=0.9 if o == 3 else None),
                   dtype, layout, cast=cast)
    assert got.dtype == (torch.float32 if case == "skip-fp32" else dtype)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("shape, offset", [((1, 3, 5, 7), 0.0), ((3, 20, 70, 70), 0.0), ((2, 40, 4, 4), 0.0),
                                           ((2, 3, 16, 16), 1000.0), ((1, 33, 1, 1), 0.0)],
                         ids=["1x3x5x7", "3x20x70x70-chunks", "2x40x4x4", "offset-1000", "1x1-planes"])
def test_adain_matches_reference(shape, offset, dtype_name, layout):
    dtype = DTYPES[dtype_name]
    if offset and dtype != torch.float32:
        pytest.skip("a plane 1000 from zero with spread 1 is not representable in 16 bits")
    n, c = shape[:2]
    x = _randn(*shape) + offset
    check_op("adain", (x, _randn(n, c, seed=1) + 1, _randn(n, c, seed=2)), {}, dtype, layout)


@gpu
@pytest.mark.parametrize("dtype_name", list(DTYPES) + ["fp64"])
@pytest.mark.parametrize("n, layer, h, w", [(1, 0, 4, 4), (3, 7, 33, 17), (2, 2**31 - 1, 64, 64)])
def test_noise_stream_matches_reference(n, layer, h, w, dtype_name):
    dtype = DTYPES.get(dtype_name, torch.float64)
    seeds = [0, 2**32 - 1, 12345][:n]
    got = ops.noise_stream(seeds, layer, h, w, dtype=dtype, device=DEVICE, backend="cuda")
    want = ops.noise_stream(seeds, layer, h, w, device=DEVICE, backend="reference")  # float32
    assert got.dtype == dtype and got.shape == (n, 1, h, w)
    # only libm log/cos may differ, by ulps (4e-6: tests/test_ops_noise_stream.py), then the rounding to dtype
    allowed = want.double().abs() * torch.finfo(dtype).eps / 2 + 4e-6
    assert ((got.double() - want.double()).abs() <= allowed).all()


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("fused", [False, True])
def test_upscale_conv2d_matches_reference(fused, dtype_name, layout):
    check_op("upscale_conv2d", (_randn(2, 6, 5, 4), _randn(7, 6, 3, 3, seed=1) * 0.3), dict(fused=fused),
             DTYPES[dtype_name], layout)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("noise_mode", NOISE)
@pytest.mark.parametrize("mode, fused", [("same", False), ("up", False), ("up", True)])
def test_stylegan1_conv2d_matches_reference(mode, fused, noise_mode, dtype_name, layout):
    n, i, o, h, w = 3, 8, 6, 5, 7
    out = (h * 2, w * 2) if mode == "up" else (h, w)
    blur = ops.setup_filter([1, 2, 1]).to(DEVICE) if mode == "up" else None
    noise = _noise(noise_mode, n, *out)
    check_op("stylegan1_conv2d", (_randn(n, i, h, w), _randn(o, i, 3, 3, seed=1), (2 / (i * 9)) ** 0.5, mode, fused,
                                  blur, _randn(o, seed=2), noise, _randn(o, seed=3) if noise is not None else None),
             {}, DTYPES[dtype_name], layout)


@gpu
def test_batches_beyond_the_grids_y_limit():
    """More images than a grid's y dimension holds (65535): the kernels loop over the batch."""
    n = 70000
    x = _randn(n, 2, 1, 3)
    check_op("noise_bias_act", (x, _randn(2, seed=1), _randn(n, 1, 1, 3, seed=2), _randn(1, seed=3).reshape([])),
             dict(act="lrelu"), torch.float32)
    check_op("upfirdn2d", (x, ops.setup_filter([1, 2, 1]).to(DEVICE)), dict(padding=1), torch.float32)
    check_op("adain", (x, _randn(n, 2, seed=1), _randn(n, 2, seed=2)), {}, torch.float32)
    seeds = torch.arange(n, device=DEVICE)
    got = ops.noise_stream(seeds, 3, 1, 2, device=DEVICE, backend="cuda")
    want = ops.noise_stream(seeds, 3, 1, 2, device=DEVICE, backend="reference")
    assert (got - want).abs().max().item() <= 4e-6


@gpu
@pytest.mark.skipif(DEVICE != "cuda", reason="a batch of more than 2^31 elements: on a GPU only")
def test_offsets_beyond_2_to_the_31_elements():
    """A batch of more than 2^31 elements (4.6 GB in fp16): the offsets of the last image are int64."""
    if torch.cuda.get_device_properties(0).total_memory < 24 * 2**30:
        pytest.skip("needs 24 GiB of GPU memory")
    x = torch.empty(3, 1, 32768, 24576, dtype=torch.float16, device=DEVICE).normal_()  # 2.4e9 elements
    bias = torch.tensor([0.25], device=DEVICE)
    y = ops.noise_bias_act(x, bias, act="lrelu", backend="cuda")
    tail = slice(32768 - 64, None)
    want = ops.noise_bias_act(x[2:, :, tail].double(), bias.double(), act="lrelu", backend="reference")
    assert_close(y[2:, :, tail], want.half(), torch.float16)


# ---------------------------------------------------------------------------------------------
# Whole generators (GPU)

GENERATORS = {  # small; StyleGAN1 fuses its upscale conv from 128 px
    "stylegan2": dict(arch="stylegan2", resolution=64, z_dim=64, w_dim=64, channel_base=4096, channel_max=64),
    "stylegan1": dict(arch="stylegan1", resolution=128, z_dim=64, w_dim=64, channel_base=4096, channel_max=64),
}
if DEVICE != "cuda":  # the emulation is slow: narrow layers
    GENERATORS = {arch: dict(kw, channel_max=8, channel_base=1024) for arch, kw in GENERATORS.items()}
BATCH = 3


def build(arch, dtype=torch.float32, **overrides) -> sf.Generator:
    return seeded_generator({**GENERATORS[arch], **overrides}, DEVICE, dtype)


def render(G, backend, noise_mode="random"):
    return render_seeds(G, backend, BATCH, DEVICE, noise_mode)


def _ran_on_cuda(G):
    """The ops of G's last forward ran on backend cuda (an op without a cuda kernel would have raised)."""
    assert set(G.last_dispatch.values()) == {"cuda"}, G.last_dispatch


@gpu
@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
@pytest.mark.parametrize("arch", list(GENERATORS))
def test_generator_matches_reference_fp32(arch, noise_mode):
    G = build(arch)
    want = render(G, "reference", noise_mode)
    got = render(G, "cuda", noise_mode)
    _ran_on_cuda(G)
    assert_close(got, want, torch.float32, scale=10, msg=f"{arch} {noise_mode} cuda vs reference (fp32):")


LOW_PRECISION = {"fp16": dict(dtype=torch.float16), "bf16": dict(dtype=torch.bfloat16),
                 "fp32-num_fp16_res=2": dict(dtype=torch.float32, num_fp16_res=2)}


@gpu
@pytest.mark.parametrize("arch, precision", [(a, p) for p in LOW_PRECISION for a in GENERATORS
                                              if a == "stylegan2" or "num_fp16_res" not in p])
def test_generator_low_precision_error_at_most_twice_the_reference(arch, precision):
    settings = dict(LOW_PRECISION[precision])
    dtype = settings.pop("dtype")
    if settings and DEVICE != "cuda":
        pytest.skip("num_fp16_res runs in float16 on CUDA only")
    exact = render(build(arch, torch.float64), "reference")
    G = build(arch, dtype, **settings)
    ref, got = render(G, "reference"), render(G, "cuda")
    _ran_on_cuda(G)
    assert got.dtype == ref.dtype and torch.isfinite(got).all(), f"{arch} {precision}: non-finite cuda output"
    ref_err = (ref.double() - exact).abs().max().item()
    got_err = (got.double() - exact).abs().max().item()
    floor = TOLERANCES[torch.float16 if settings else dtype]["atol"]
    assert got_err <= 2 * ref_err + floor, (f"{arch} {precision}: cuda max abs err {got_err:.3e} from float64, the "
                                            f"reference in the same precision {ref_err:.3e} (allowed 2x + {floor:g})")


@gpu
@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
@pytest.mark.skipif(DEVICE != "cuda", reason="the triton backend runs on a GPU here")
@pytest.mark.parametrize("arch", list(GENERATORS))
def test_random_noise_images_equal_the_triton_backends(arch):
    seeds = list(range(10, 10 + BATCH))
    for layer, size in ((0, 4), (5, 64)):
        got = ops.noise_stream(seeds, layer, size, size, device=DEVICE, backend="cuda")
        want = ops.noise_stream(seeds, layer, size, size, device=DEVICE, backend="triton")
        assert (got - want).abs().max().item() <= 1e-5, "noise maps: only the libm-level log/cos may differ"
    G = build(arch)
    assert_close(render(G, "cuda"), render(G, "triton"), torch.float32, scale=10, msg=f"{arch} cuda vs triton:")


@gpu
@pytest.mark.skipif(DEVICE != "cuda", reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("arch", list(GENERATORS))
def test_cuda_graph_replay_equals_the_eager_forward(arch):
    G = build(arch)
    G.backend = "cuda"
    z = sf.z_from_seeds(list(range(BATCH)), G.z_dim).to(DEVICE)
    seeds = list(range(10, 10 + BATCH))
    with torch.no_grad():
        eager = G(z, truncation_psi=0.7, noise_mode="random", noise_seeds=seeds)
    graph = G.compile_graph(BATCH, truncation_psi=0.7, noise_mode="random")
    for _ in range(2):
        replayed = graph(z, noise_seeds=seeds)
        assert_close(replayed, eager, torch.float32, msg=f"{arch}: graph replay vs eager:")
