"""Per-pixel noise as a function of (image noise seed, layer, pixel), the specification.

The stream is exactly Triton's ``tl.randn(seed, offset)`` (triton/language/random.py), so a
kernel can draw the same noise in-kernel with ``tl.randn(noise_seed | (layer << 32), y * W + x)``,
and an image's noise does not depend on the batch it is rendered in.

Key and counter, for image n, layer l, pixel (y, x) of an H x W map:

    key     = (k0, k1) = (noise_seed[n], l)          # the 64-bit seed noise_seed | (l << 32), lo/hi words
    counter = (c0, c1, c2, c3) = (y * W + x, 0, 0, 0)

Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; Random123),
all words 32-bit, mulhilo(a, b) = (a * b >> 32, a * b mod 2^32), 10 rounds of

    hi0, lo0 = mulhilo(0xD2511F53, c0)
    hi1, lo1 = mulhilo(0xCD9E8D57, c2)
    (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)
    (k0, k1) = (k0 + 0x9E3779B9 mod 2^32,  k1 + 0xBB67AE85 mod 2^32)

(the key bump after the last round is unused). The first two output words w0, w1 become
uniforms as Triton's ``uint_to_uniform_float`` does, in float32: reinterpret the word as int32,
fold negatives with bitwise not (w < 2^31 -> w, else 0xFFFFFFFF - w, in [0, 2^31 - 1]), round
to float32, times float32(4.6566127342e-10) (the largest scale with (2^31 - 1) * scale < 1):

    u = fp32(fold(w)) * fp32(4.6566127342e-10)                      in [0, 1)

and Box-Muller (``pair_uniform_to_normal``), every step in float32, the cosine branch returned:

    u0 = max(fp32(1e-7), u0)
    z  = sqrt(-2 * log(u0)) * cos(fp32(2 pi) * u1)

Only the libm ``log``/``cos``/``sqrt`` may differ between implementations (by ulps); the integer
words and the uniforms are exact. Noise maps are float32 values cast to the requested dtype.
"""
from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
PHILOX_ROUND_A = 0xD2511F53  # multiplier of c0
PHILOX_ROUND_B = 0xCD9E8D57  # multiplier of c2
PHILOX_KEY_A = 0x9E3779B9  # Weyl increment of k0 (golden ratio)
PHILOX_KEY_B = 0xBB67AE85  # Weyl increment of k1 (sqrt(3) - 1)
PHILOX_ROUNDS = 10
UNIFORM_SCALE = 4.6566127342e-10  # Triton's uint_to_uniform_float scale for 32-bit words
BOX_MULLER_MIN_U = 1.0e-7
TWO_PI = 6.283185307179586


def _mulhilo32(a: int, b: torch.Tensor):
    """(a * b >> 32, a * b mod 2^32) for a 32-bit constant ``a`` and int64 ``b`` in [0, 2^32),
    exactly in int64: b is split in 16-bit halves so that no product exceeds 2^48."""
    p = a * (b >> 16)  # < 2^48;  a * b = p * 2^16 + a * b_lo
    t = ((p & 0xFFFF) << 16) + a * (b & 0xFFFF)  # < 2^32 + 2^48
    return (p >> 16) + (t >> 32), t & MASK32


def philox4x32(counter, key, rounds: int = PHILOX_ROUNDS):
    """Philox4x32-``rounds``: counter (c0, c1, c2, c3) and key (k0, k1), int64 tensors holding
    values in [0, 2^32) (broadcastable to one shape) -> the 4 output words, int64 in [0, 2^32)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(rounds):
        hi0, lo0 = _mulhilo32(PHILOX_ROUND_A, c0)
        hi1, lo1 = _mulhilo32(PHILOX_ROUND_B, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0, k1 = (k0 + PHILOX_KEY_A) & MASK32, (k1 + PHILOX_KEY_B) & MASK32
    return c0, c1, c2, c3


def stream_key(noise_seeds: torch.Tensor, layer: int):
    """noise_seeds: [N] int64 in [0, 2^32) -> (key_lo [N], key_hi [N]): the 64-bit Philox key
    noise_seed | (layer << 32), split in 32-bit words."""
    noise_seeds = noise_seeds.to(torch.int64)
    return noise_seeds, torch.full_like(noise_seeds, layer)


def uniform_from_word(w: torch.Tensor) -> torch.Tensor:
    """Triton's uint_to_uniform_float for 32-bit words: int64 in [0, 2^32) -> float32 in [0, 1)."""
    folded = torch.where(w < 2**31, w, MASK32 - w)  # int32 view, negatives bitwise-notted
    return folded.to(torch.float32) * torch.tensor(UNIFORM_SCALE, dtype=torch.float32, device=w.device)


def normal_from_uniforms(u0: torch.Tensor, u1: torch.Tensor) -> torch.Tensor:
    """Triton's pair_uniform_to_normal in float32, first (cosine) output."""
    f32 = dict(dtype=torch.float32, device=u0.device)
    u0 = torch.maximum(u0, torch.tensor(BOX_MULLER_MIN_U, **f32))
    theta = torch.tensor(TWO_PI, **f32) * u1
    r = torch.sqrt(torch.tensor(-2.0, **f32) * torch.log(u0))
    return r * torch.cos(theta)


def noise_stream(noise_seeds: torch.Tensor, layer: int, height: int, width: int, dtype=torch.float32,
                 device=None) -> torch.Tensor:
    """noise_seeds: [N] int64 in [0, 2^32) -> [N, 1, H, W] standard normal noise of ``layer``;
    pixel (y, x) of image n is tl.randn(noise_seeds[n] | (layer << 32), y * width + x)."""
    device = noise_seeds.device if device is None else torch.device(device)
    key_lo, key_hi = stream_key(noise_seeds.to(device), layer)
    k0 = key_lo.view(-1, 1, 1, 1)  # [N, 1, 1, 1]
    k1 = key_hi.view(-1, 1, 1, 1)
    c0 = torch.arange(height * width, dtype=torch.int64, device=device).view(1, 1, height, width)  # [1, 1, H, W]
    zero = torch.zeros_like(c0)
    w0, w1, _, _ = philox4x32((c0, zero, zero, zero), (k0, k1))  # [N, 1, H, W] each
    return normal_from_uniforms(uniform_from_word(w0), uniform_from_word(w1)).to(dtype)
