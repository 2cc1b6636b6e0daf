"""noise_stream: per-pixel noise as a function of (noise seed, layer, pixel), Triton's tl.randn.

Checked three independent ways:
  * Philox4x32 against the published Random123 known-answer vectors, and against a plain
    Python-int Philox written here from the Random123 definition;
  * the normals against a float64 derivation with the ``math`` module from those Python-int words;
  * the whole stream against Triton's own ``tl.randn`` run in the interpreter (in a subprocess,
    so TRITON_INTERPRET=1 is set before triton is imported there and nowhere else).
"""
import importlib.util
import math
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from stylegan_fast.ops.noise_stream import NOISE_SEED_MAX, noise_stream, philox4x32, stream_key
from stylegan_fast.ops.noise_stream import reference
from tests.tolerances import assert_close

M32 = 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# Independent derivation: plain Python ints and the math module, no torch.
# Philox4x32 as defined in Random123 (philox.h, Salmon et al. SC'11): per round
#   (hi0, lo0) = mulhilo(0xD2511F53, c0); (hi1, lo1) = mulhilo(0xCD9E8D57, c2)
#   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
# and between rounds the key is bumped by the Weyl constants (0x9E3779B9, 0xBB67AE85).

def py_philox4x32(ctr, key, rounds=10):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r:  # Random123 bumps the key before every round but the first
            k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2  # exact: Python ints do not overflow
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32
    return c0, c1, c2, c3


def f32(x):
    """Round a Python float to the nearest float32 (and back)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def py_uniform(w):
    """Triton's uint_to_uniform_float in float32 semantics: int32 view, negatives bitwise-notted,
    times float32(4.6566127342e-10). fp32 * fp32 is exact in float64, so rounding it once is the
    correctly rounded float32 product."""
    signed = w - 2**32 if w >= 2**31 else w
    folded = ~signed if signed < 0 else signed
    return f32(f32(float(folded)) * f32(4.6566127342e-10))


def py_normal(w0, w1):
    """Box-Muller on the float32 uniforms (clamp and angle rounded as float32, the rest float64)."""
    u0 = max(f32(1e-7), py_uniform(w0))
    theta = f32(f32(2 * math.pi) * py_uniform(w1))
    return math.sqrt(-2.0 * math.log(u0)) * math.cos(theta)


def py_noise(seed, layer, height, width):
    """[H, W] float64 noise of one image: counter (y * W + x, 0, 0, 0), key (seed, layer)."""
    out = np.empty((height, width))
    for y in range(height):
        for x in range(width):
            w0, w1, _, _ = py_philox4x32((y * width + x, 0, 0, 0), (seed, layer))
            out[y, x] = py_normal(w0, w1)
    return torch.from_numpy(out)


def words(*vals):
    return tuple(torch.tensor(v, dtype=torch.int64) for v in vals)


# ---------------------------------------------------------------------------------------------
# Known answers: Random123 tests/kat_vectors (DEShawResearch/random123, also quoted in
# TensorFlow's stateful_random_ops test and Random123-Boost's test_philox.cpp), lines
#   philox4x32 R  ctr0 ctr1 ctr2 ctr3 key0 key1   out0 out1 out2 out3
# The 10-round lines are the ones Triton (and this stream) use; the 7-round ones check that
# `rounds` is honoured. All also pass py_philox4x32 above (test_kat_python_derivation).
PI_CTR, PI_KEY = (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)
KAT = [
    ("zero-10", 10, (0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ("ones-10", 10, (M32,) * 4, (M32,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ("pi-10", 10, PI_CTR, PI_KEY, (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ("zero-7", 7, (0, 0, 0, 0), (0, 0), (0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48)),
    ("ones-7", 7, (M32,) * 4, (M32,) * 2, (0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662)),
    ("pi-7", 7, PI_CTR, PI_KEY, (0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A)),
]


@pytest.mark.parametrize("rounds,ctr,key,expected", [k[1:] for k in KAT], ids=[k[0] for k in KAT])
def test_kat_python_derivation(rounds, ctr, key, expected):
    assert py_philox4x32(ctr, key, rounds) == expected


@pytest.mark.parametrize("rounds,ctr,key,expected", [k[1:] for k in KAT], ids=[k[0] for k in KAT])
def test_philox4x32_matches_kat(rounds, ctr, key, expected):
    out = philox4x32(words(*ctr), words(*key), rounds=rounds)
    assert tuple(int(o) for o in out) == expected


def test_philox4x32_matches_python_on_many_words():
    """Random 32-bit counters and keys (top bits set often: the int64 products must not overflow)."""
    g = torch.Generator().manual_seed(7)
    ctr = [torch.randint(0, 2**32, (500,), generator=g, dtype=torch.int64) for _ in range(4)]
    key = [torch.randint(0, 2**32, (500,), generator=g, dtype=torch.int64) for _ in range(2)]
    ctr[0][:4] = torch.tensor([0, 1, M32, 2**31])
    got = torch.stack(philox4x32(ctr, key), 1)
    for i in range(500):
        want = py_philox4x32(tuple(int(c[i]) for c in ctr), tuple(int(k[i]) for k in key))
        assert tuple(got[i].tolist()) == want, f"element {i}"
    assert int(got.min()) >= 0 and int(got.max()) <= M32


def test_stream_key_is_seed_lo_layer_hi():
    lo, hi = stream_key(torch.tensor([0, 5, M32]), 9)
    assert lo.tolist() == [0, 5, M32] and hi.tolist() == [9, 9, 9]


# ---------------------------------------------------------------------------------------------
# Uniforms and normals against the math-module derivation.

EDGE_WORDS = [0, 1, 2, 100, 2**24, 2**24 + 1, 2**31 - 1, 2**31, 2**31 + 1, M32 - 1, M32, 0x9E3779B9]


def test_uniform_is_exactly_tritons_float32():
    w = torch.tensor(EDGE_WORDS + list(range(0, 2**32, 2**32 // 997)), dtype=torch.int64)
    u = reference.uniform_from_word(w)
    assert u.dtype == torch.float32
    assert u.tolist() == [py_uniform(int(v)) for v in w]
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0


def test_normal_edge_words_match_math():
    """Includes words whose uniform is 0 (clamped to 1e-7) and the largest uniform (r ~ 0)."""
    w0 = torch.tensor([v for v in EDGE_WORDS for _ in EDGE_WORDS], dtype=torch.int64)
    w1 = torch.tensor([v for _ in EDGE_WORDS for v in EDGE_WORDS], dtype=torch.int64)
    z = reference.normal_from_uniforms(reference.uniform_from_word(w0), reference.uniform_from_word(w1))
    want = torch.tensor([py_normal(int(a), int(b)) for a, b in zip(w0, w1)], dtype=torch.float64)
    assert_close(z, want, dtype=torch.float32, msg="edge words")
    assert math.isclose(z[0].item(), math.sqrt(-2 * math.log(f32(1e-7))), rel_tol=1e-6)  # w0 = w1 = 0


@pytest.mark.parametrize("seed,layer,height,width", [
    (0, 0, 8, 8),
    (123456789, 3, 17, 33),
    (M32, 2**31 - 1, 5, 64),
], ids=["seed0-layer0-8x8", "seed123456789-layer3-17x33", "seedmax-layermax-5x64"])
def test_noise_stream_matches_math_derivation(seed, layer, height, width):
    got = noise_stream([seed], layer, height, width)  # [1, 1, H, W]
    want = py_noise(seed, layer, height, width)
    assert_close(got[0, 0], want, dtype=torch.float32, msg=f"seed {seed} layer {layer}")


# ---------------------------------------------------------------------------------------------
# Against Triton's tl.randn in the interpreter (subprocess: TRITON_INTERPRET=1 before import).

_TRITON_SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def randn_kernel(seed, offsets_ptr, w_ptr, z_ptr, n, BLOCK: tl.constexpr):
        i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = i < n
        offsets = tl.load(offsets_ptr + i, mask=mask, other=0)  # int32
        w0, w1, w2, w3 = tl.randint4x(seed, offsets)
        tl.store(w_ptr + 4 * i + 0, w0.to(tl.int32, bitcast=True), mask=mask)
        tl.store(w_ptr + 4 * i + 1, w1.to(tl.int32, bitcast=True), mask=mask)
        tl.store(w_ptr + 4 * i + 2, w2.to(tl.int32, bitcast=True), mask=mask)
        tl.store(w_ptr + 4 * i + 3, w3.to(tl.int32, bitcast=True), mask=mask)
        tl.store(z_ptr + i, tl.randn(seed, offsets), mask=mask)

    offsets = torch.from_numpy(np.load(sys.argv[2]).astype(np.int32))
    out = {}
    for k, seed in enumerate(int(s) for s in sys.argv[3:]):
        n = offsets.numel()
        w = torch.empty(n, 4, dtype=torch.int32)
        z = torch.empty(n, dtype=torch.float32)
        randn_kernel[(triton.cdiv(n, 256),)](seed, offsets, w, z, n, BLOCK=256)
        out[f"w{k}"], out[f"z{k}"] = w.numpy(), z.numpy()
    np.savez(sys.argv[1], **out)
''')

# (noise seed, layer): the Triton seed is noise_seed | (layer << 32), hi word nonzero.
TRITON_SEEDS = [(0x9E3779B9, 3), (12345, 17), (M32, 2**31 - 1)]


@pytest.fixture(scope="module")
def triton_randn(tmp_path_factory):
    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed (pip install 'triton>=3.2,<4' to compare with tl.randn)")
    tmp = tmp_path_factory.mktemp("triton_randn")
    offsets = np.concatenate([np.arange(640), [1000, 4095, 65535, 65536, 2**20 - 1, 2**24 + 3, 2**31 - 1]])
    np.save(tmp / "offsets.npy", offsets)
    script = tmp / "randn_kernel.py"
    script.write_text(_TRITON_SCRIPT)
    env = dict(os.environ, TRITON_INTERPRET="1")
    seeds = [str(s | (layer << 32)) for s, layer in TRITON_SEEDS]
    proc = subprocess.run([sys.executable, str(script), str(tmp / "out.npz"), str(tmp / "offsets.npy"), *seeds],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"triton interpreter run failed:\n{proc.stdout}\n{proc.stderr}"
    return torch.from_numpy(offsets).to(torch.int64), np.load(tmp / "out.npz")


@pytest.mark.parametrize("k", range(len(TRITON_SEEDS)), ids=[f"seed{s:#x}-layer{l}" for s, l in TRITON_SEEDS])
def test_matches_triton_randn(triton_randn, k):
    offsets, out = triton_randn
    seed, layer = TRITON_SEEDS[k]
    key = stream_key(torch.tensor([seed]), layer)
    zero = torch.zeros_like(offsets)
    w = torch.stack(philox4x32((offsets, zero, zero, zero), key), 1)  # [n, 4]
    tri_w = torch.from_numpy(out[f"w{k}"].astype(np.int64) & M32)
    assert torch.equal(w, tri_w), "Philox words differ from tl.randint4x"
    z = reference.normal_from_uniforms(reference.uniform_from_word(w[:, 0]), reference.uniform_from_word(w[:, 1]))
    tri_z = torch.from_numpy(out[f"z{k}"])
    # Only libm log/cos/sqrt may differ (ulps; 2.4e-7 seen on x86 CPU); 4e-6 is 8 ulps at the largest |z| ~ 5.7.
    err = (z.double() - tri_z.double()).abs()
    assert err.max().item() <= 4e-6, f"max abs diff {err.max().item():.3e} vs tl.randn"
    # And the public map agrees on its pixels: offset y * W + x of a 20 x 32 map.
    m = noise_stream([seed], layer, 20, 32).flatten()
    assert_close(m, tri_z[:640].double(), dtype=torch.float32, msg="noise_stream vs tl.randn")


# ---------------------------------------------------------------------------------------------
# Properties of the public function.

@pytest.mark.parametrize("n,h,w", [(1, 1, 1), (3, 4, 4), (2, 7, 5)], ids=["1x1x1", "3x4x4", "2x7x5"])
def test_shape_and_dtype(n, h, w):
    out = noise_stream(list(range(n)), 0, h, w)
    assert out.shape == (n, 1, h, w) and out.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64], ids=["fp16", "bf16", "fp64"])
def test_dtype_is_float32_stream_cast(dtype):
    out = noise_stream([3, 4], 2, 8, 8, dtype=dtype)
    assert out.dtype == dtype
    assert torch.equal(out, noise_stream([3, 4], 2, 8, 8).to(dtype))


def test_image_noise_independent_of_batch():
    a, b, c = 11, 2**32 - 2, 424242
    batch = noise_stream([a, b, c], 5, 16, 24)
    alone = noise_stream([b], 5, 16, 24)
    assert torch.equal(batch[1:2], alone)
    assert torch.equal(noise_stream([c, b], 5, 16, 24)[1], alone[0])  # position in the batch does not matter


def test_list_and_tensor_seeds_agree():
    seeds = [0, 1, 99, NOISE_SEED_MAX]
    assert torch.equal(noise_stream(seeds, 1, 6, 6), noise_stream(torch.tensor(seeds), 1, 6, 6))
    assert torch.equal(noise_stream(seeds, 1, 6, 6), noise_stream(torch.tensor(seeds), 1, 6, 6, device="cpu"))
    assert torch.equal(noise_stream(seeds, 1, 6, 6), noise_stream(torch.tensor(seeds, dtype=torch.uint32), 1, 6, 6))


def test_layers_and_seeds_differ():
    base = noise_stream([7], 0, 32, 32)
    for other in (noise_stream([7], 1, 32, 32), noise_stream([8], 0, 32, 32), noise_stream([7 + 2**16], 0, 32, 32)):
        assert not torch.equal(base, other)
        # Independent streams: correlation ~ N(0, 1/1024), far from 1.
        assert abs(torch.corrcoef(torch.stack([base.flatten(), other.flatten()]))[0, 1].item()) < 0.15


def test_mean_and_std_over_a_map():
    z = noise_stream([2024], 4, 256, 256).double()
    assert abs(z.mean().item()) < 0.02, z.mean().item()
    assert abs(z.std().item() - 1) < 0.02, z.std().item()
    assert z.abs().max().item() <= math.sqrt(-2 * math.log(1e-7)) + 1e-4  # Box-Muller bound from the clamp


@pytest.mark.parametrize("seeds,exc,match", [
    ([-1], ValueError, r"noise_seeds\[0\] = -1 is out of range"),
    ([0, 2**32], ValueError, r"noise_seeds\[1\] = 4294967296 is out of range"),
    ([1.5], TypeError, r"noise_seeds\[0\] must be an int.*1\.5.*float"),
    ([True], TypeError, r"must be an int.*bool"),
    (torch.tensor([-3]), ValueError, r"noise seeds must be in \[0, 4294967295\].*got -3"),
    (torch.tensor([2**32]), ValueError, r"noise seeds must be in \[0, 4294967295\].*got 4294967296"),
    (torch.tensor([2**64 - 1], dtype=torch.uint64), ValueError, r"got 18446744073709551615"),
    (torch.tensor([1.0, 2.0]), TypeError, r"must hold integers.*torch.float32"),
    (torch.tensor([[1, 2]]), ValueError, r"1-D tensor.*\[1, 2\]"),
    (3, TypeError, r"1-D integer tensor or a list of ints, got int"),
], ids=["negative", "2^32", "float", "bool", "tensor-negative", "tensor-2^32", "uint64-max", "float-tensor", "2-D",
        "scalar"])
def test_bad_seeds(seeds, exc, match):
    with pytest.raises(exc, match=match):
        noise_stream(seeds, 0, 4, 4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(layer=-1), r"layer must be an int in \[0, 2147483647\], got -1"),
    (dict(layer=2**31), r"layer must be an int in \[0, 2147483647\]"),
    (dict(layer=1.0), r"layer must be an int"),
    (dict(height=0), r"height must be a positive int, got 0"),
    (dict(width=-2), r"width must be a positive int, got -2"),
    (dict(height=2**16, width=2**16), r"exceeds 2147483648 pixels"),
], ids=["layer-negative", "layer-2^31", "layer-float", "height-0", "width-negative", "too-many-pixels"])
def test_bad_layer_and_sizes(kwargs, match):
    args = dict(layer=0, height=4, width=4) | kwargs
    with pytest.raises(ValueError, match=match):
        noise_stream([1], **args)


def test_bad_dtype():
    with pytest.raises(TypeError, match="floating-point"):
        noise_stream([1], 0, 4, 4, dtype=torch.int32)


def test_layer_noise_maps_are_the_stream_of_each_layer():
    """What a generator's noise layers get: layer i's map is noise_stream(seeds, i, ...), seeds checked once."""
    from stylegan_fast.ops import layer_noise_maps, noise_stream

    sizes = [(4, 4), (8, 8), (8, 8), (5, 7)]
    maps = layer_noise_maps([3, 2**32 - 1], sizes)
    assert len(maps) == len(sizes)
    for layer, ((h, w), got) in enumerate(zip(sizes, maps)):
        assert torch.equal(got, noise_stream([3, 2**32 - 1], layer, h, w))
    with pytest.raises(ValueError, match=r"noise_seeds\[1\] = -1 is out of range"):
        layer_noise_maps([3, -1], sizes)


# ---------------------------------------------------------------------------------------------
# The cpu backend (csrc/cpu/noise_stream.cpp, math in csrc/noise_stream.h) against the reference.

from stylegan_fast.ops import cpu_support  # noqa: E402
from stylegan_fast.ops.noise_stream import cpu as noise_cpu  # noqa: E402

_needs_cpu_kernels = pytest.mark.skipif(not cpu_support.kernels_built(),
                                        reason="stylegan_fast._C is not built with the CPU kernels")
LIBM_ATOL = 4e-6  # only libm logf/cosf may differ from torch's: 8 ulps at the largest |z| ~ 5.7


def cpu_philox(counters, keys, rounds=10):
    """The C++ stream math element by element: counters [M, 4], keys [M, 2] (int64 words) ->
    (words [M, 4] int64, uniforms [M, 2] float32 of w0 and w1, normals [M] float32)."""
    counters, keys = counters.to(torch.int64).contiguous(), keys.to(torch.int64).contiguous()
    m = counters.shape[0]
    words = torch.empty(m, 4, dtype=torch.int64)
    uniforms, normals = torch.empty(m, 2), torch.empty(m)
    cpu_support.native().noise_stream_philox(counters.data_ptr(), keys.data_ptr(), words.data_ptr(),
                                             uniforms.data_ptr(), normals.data_ptr(), m, rounds)
    return words, uniforms, normals


@_needs_cpu_kernels
@pytest.mark.parametrize("rounds,ctr,key,expected", [k[1:] for k in KAT], ids=[k[0] for k in KAT])
def test_noise_stream_cpu_philox_matches_kat(rounds, ctr, key, expected):
    words, _, _ = cpu_philox(torch.tensor([ctr]), torch.tensor([key]), rounds)
    assert tuple(words[0].tolist()) == expected


@_needs_cpu_kernels
def test_noise_stream_cpu_words_and_uniforms_are_exact():
    """Random 32-bit counters and keys plus edge words: the words and uniforms bit for bit, the normals
    within libm ulps of the reference and of the math-module derivation."""
    g = torch.Generator().manual_seed(11)
    counters = torch.randint(0, 2**32, (4000, 4), generator=g, dtype=torch.int64)
    keys = torch.randint(0, 2**32, (4000, 2), generator=g, dtype=torch.int64)
    counters[:len(EDGE_WORDS), 0] = torch.tensor(EDGE_WORDS)
    counters[:8, 1:] = 0
    words, uniforms, normals = cpu_philox(counters, keys)
    want = torch.stack(philox4x32(counters.unbind(1), keys.unbind(1)), 1)
    assert torch.equal(words, want)
    assert torch.equal(uniforms, reference.uniform_from_word(want[:, :2]))
    ref_z = reference.normal_from_uniforms(uniforms[:, 0], uniforms[:, 1])
    assert (normals - ref_z).abs().max().item() <= LIBM_ATOL
    assert (normals == ref_z).float().mean().item() > 0.5  # most values agree exactly
    for i in range(0, 4000, 37):
        assert math.isclose(normals[i].item(), py_normal(*want[i, :2].tolist()), abs_tol=LIBM_ATOL), f"element {i}"


@_needs_cpu_kernels
def test_noise_stream_cpu_edge_uniforms():
    """The uniform fold at the int32 sign boundary and Box-Muller's clamp, on chosen words."""
    w = torch.tensor([v for v in EDGE_WORDS for _ in EDGE_WORDS], dtype=torch.int64)
    w1 = torch.tensor([v for _ in EDGE_WORDS for v in EDGE_WORDS], dtype=torch.int64)
    # zero-round Philox returns the counter: the words are chosen directly
    _, uniforms, normals = cpu_philox(torch.stack([w, w1, w, w], 1), torch.zeros(len(w), 2), rounds=0)
    assert torch.equal(uniforms[:, 0], reference.uniform_from_word(w))
    assert torch.equal(uniforms[:, 1], reference.uniform_from_word(w1))
    want = torch.tensor([py_normal(int(a), int(b)) for a, b in zip(w, w1)], dtype=torch.float64)
    assert (normals.double() - want).abs().max().item() <= LIBM_ATOL
    assert normals[0].item() == pytest.approx(math.sqrt(-2 * math.log(f32(1e-7))), rel=1e-6)  # u0 = 0 clamped


_CPU_MAPS = [([0], 0, 1, 1), ([3, 2**32 - 1, 424242], 5, 17, 33), ([M32], 2**31 - 1, 5, 64),
             ([7, 8], 1, 70, 90), ([123456789], 3, 129, 63)]  # 6300 and 8127 pixels: several blocks


@_needs_cpu_kernels
@pytest.mark.parametrize("seeds,layer,height,width", _CPU_MAPS,
                         ids=[f"n{len(s)}-layer{l}-{h}x{w}" for s, l, h, w in _CPU_MAPS])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64], ids=["fp32", "fp16", "fp64"])
def test_noise_stream_cpu_matches_reference(seeds, layer, height, width, dtype):
    from stylegan_fast.ops.noise_stream import _op

    assert "cpu" in _op.implementations
    previous = torch.get_num_threads()
    try:
        maps = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            maps.append(noise_stream(seeds, layer, height, width, dtype=dtype, backend="cpu"))
    finally:
        torch.set_num_threads(previous)
    got = maps[0]
    assert got.dtype == dtype and tuple(got.shape) == (len(seeds), 1, height, width)
    assert torch.equal(maps[0], maps[1]), "1 and 2 threads differ"
    ref32 = noise_stream(seeds, layer, height, width, backend="reference")
    got32 = noise_stream(seeds, layer, height, width, backend="cpu")
    assert torch.equal(got, got32.to(dtype))
    assert (got32 - ref32).abs().max().item() <= LIBM_ATOL
    # Pixel p of map n is the C++ element math at counter (p, 0, 0, 0), key (seed n, layer), bit for bit.
    pixels = height * width
    counters = torch.zeros(len(seeds) * pixels, 4, dtype=torch.int64)
    counters[:, 0] = torch.arange(pixels).repeat(len(seeds))
    keys = torch.tensor([[s, layer] for s in seeds for _ in range(pixels)], dtype=torch.int64)
    _, _, normals = cpu_philox(counters, keys)
    assert torch.equal(got32.flatten(), normals)


@_needs_cpu_kernels
def test_layer_noise_maps_cpu():
    from stylegan_fast.ops import layer_noise_maps

    sizes = [(4, 4), (8, 8), (8, 8), (5, 7), (64, 96)]
    seeds = [3, 2**32 - 1]
    maps = layer_noise_maps(seeds, sizes, backend="cpu")
    ref = layer_noise_maps(seeds, sizes, backend="reference")
    for layer, ((h, w), got, want) in enumerate(zip(sizes, maps, ref)):
        assert torch.equal(got, noise_stream(seeds, layer, h, w, backend="cpu"))
        assert (got - want).abs().max().item() <= LIBM_ATOL, f"layer {layer}"


@_needs_cpu_kernels
def test_noise_stream_cpu_bad_inputs():
    with pytest.raises(ValueError, match=r"draws maps on the CPU, got device meta"):
        noise_cpu.noise_stream(torch.tensor([1]), 0, 4, 4, device="meta")
    with pytest.raises(ValueError, match=r"noise_seeds is on meta; the cpu backend's kernels take CPU tensors"):
        noise_cpu.noise_stream(torch.tensor([1], device="meta"), 0, 4, 4, device="cpu")
    with pytest.raises(ValueError, match=r"noise_seeds must be an integer tensor, got torch.float32"):
        noise_cpu.noise_stream(torch.tensor([1.0]), 0, 4, 4)
    with pytest.raises(ValueError, match=r"noise_seeds must have shape \[\*\], got \[1, 2\]"):
        noise_cpu.noise_stream(torch.tensor([[1, 2]]), 0, 4, 4)
