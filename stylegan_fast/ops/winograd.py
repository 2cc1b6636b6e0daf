"""The cpu backend's 3x3 convolution: Winograd F(4x4, 3x3) with the layer's epilogue fused.

    V[p] = B^T d B        per 6x6 input tile d (x times the style scale)   _C.winograd_input
    M[p] = U[p] @ V[p]    for the 36 points p, U = G g G^T per weight      torch.bmm (BLAS)
    y    = A^T M A        per 4x4 output tile, then x demod, + noise * strength, + bias,
                          activation, clamp                                _C.winograd_output
A 3x3 convolution costs 36 multiplies per 4x4 outputs instead of 144 (4x fewer); the transforms
are adds and small constants, so fp32 error stays near 1e-6 relative (tested against float64).

A 2x upsampling convolution (StyleGAN2's transposed conv + [1, 3, 3, 1] FIR, StyleGAN1's
upscale conv + blur) is linear and shift-equivariant on the 2x grid, so each of its four output
phases (ay, ax) is a 3x3 convolution of the low-resolution input: ``phase_kernels`` finds them by
running the op's reference on an impulse in float64, and the four run as one Winograd GEMM with
4x the output channels. The FIR pass disappears and the multiplies equal the transposed conv's.

Transformed weights are computed in float64 once per weight and cached beside it (``WeightCache``:
recomputed when the tensor is modified in place or replaced). A layer runs as one call of each
step, or in chunks of tile rows when V would exceed ``CHUNK_BYTES``; V and M live in buffers kept
per thread between calls (``release_workspace`` frees them).
"""
from __future__ import annotations

import threading
from typing import Callable

import torch

from .. import backends
from .cpu_support import kernel_input, native, pointer, threads


# F(4x4, 3x3) with interpolation points 0, 1, -1, 2, -2 and infinity (Lavin & Gray 2016).
# csrc/winograd.h applies B^T and A^T (with their common subexpressions); G is only used here.
G = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
     [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
BT = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]

CHUNK_BYTES = 256 << 20  # the most memory V (and M) may take: larger layers run in chunks of tile rows
# (measured: whole layers beat cache-sized chunks, whose extra GEMM calls cost more than they save)


def transform_weight(kernels: torch.Tensor) -> torch.Tensor:
    """[O, I, 3, 3] -> U [36, O, I] float32, U[6a + b] = (G g G^T)[a, b], computed in float64."""
    g = torch.tensor(G, dtype=torch.float64)
    u = torch.einsum("ak,oikl,bl->aboi", g, kernels.to(torch.float64), g)  # [6, 6, O, I]
    return u.reshape(36, *kernels.shape[:2]).to(torch.float32).contiguous()


def phase_kernels(upsampling_conv: Callable, weight: torch.Tensor) -> torch.Tensor:
    """The four phases of a 2x upsampling convolution as 3x3 kernels [4 * O, I, 3, 3] (float64),
    row (2 * ay + ax) * O + o, such that

        upsampling_conv(x, weight)[n, o, 2Y + ay, 2X + ax] = conv2d(x, kernels, padding=1)[n, row, Y, X]

    ``upsampling_conv(x, w)`` ([N, I, H, W], [O, I, 3, 3]) -> [N, O, 2H, 2W] must be linear in x and w,
    apply w[o, i] to input channel i for output channel o, be shift-equivariant on the 2x grid with
    every output pixel reading a 3x3 input neighbourhood, with the input zero outside the image and
    nothing padded after that (a filter applied to the upsampled result with its own zero padding
    differs at the borders). The phase kernels of each of the 9 one-hot 3x3 kernels come from the
    op's response to an impulse (float64, every op on the reference backend); those of ``weight``
    are their combination, checked against the op on a random input: a ValueError says when the
    op is not of this kind."""
    out_channels, in_channels = weight.shape[:2]
    impulse = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    impulse[0, 0, 2, 2] = 1
    basis = torch.eye(9, dtype=torch.float64).reshape(9, 1, 3, 3)  # 9 kernels from 1 input channel
    with backends.overriding("reference", impulse.device):
        response = upsampling_conv(impulse, basis).reshape(9, 5, 2, 5, 2)  # [tap, Y, ay, X, ax]
    # With the impulse at (2, 2), output pixel Y reads it through kernel row 3 - Y (Y = 1, 2, 3).
    outside = response.abs().clone()
    outside[:, 1:4, :, 1:4, :] = 0
    if outside.max() > 0:
        raise ValueError("not a 3x3-per-phase 2x upsampling convolution: its response to an impulse reaches "
                         "beyond one low-resolution pixel on each side")
    per_tap = response[:, 1:4, :, 1:4, :].flip(1, 3).permute(0, 2, 4, 1, 3)  # [tap, ay, ax, ky, kx]
    w = weight.detach().to(torch.float64).reshape(out_channels, in_channels, 9)
    kernels = torch.einsum("oit,tabyx->aboiyx", w, per_tap).reshape(4 * out_channels, in_channels, 3, 3)
    x = torch.randn(1, in_channels, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with backends.overriding("reference", impulse.device):
        want = upsampling_conv(x, weight.detach().to(torch.float64))  # [1, O, 6, 8]
    got = torch.nn.functional.conv2d(x, kernels, padding=1).reshape(2, 2, out_channels, 3, 4)
    got = got.permute(2, 3, 0, 4, 1).reshape(1, out_channels, 6, 8)
    if not torch.allclose(got, want, rtol=1e-9, atol=1e-9 * float(want.abs().max())):
        raise ValueError("not a 2x upsampling convolution of 3x3 phases: the phase kernels do not reproduce it "
                         "(at the borders: it pads something after upsampling)")
    return kernels




_workspaces = threading.local()


def _workspace(name: str, numel: int) -> torch.Tensor:
    """A float32 buffer of at least ``numel`` elements, kept for the next layer and forward (one per thread):
    V and M are the largest temporaries, and fresh ones would be page-faulted in on every call."""
    buffer = getattr(_workspaces, name, None)
    if buffer is None or buffer.numel() < numel:
        setattr(_workspaces, name, None)  # free the old one first
        with torch.inference_mode(False):  # a normal tensor: usable in and out of inference mode
            buffer = torch.empty(numel)
        setattr(_workspaces, name, buffer)
    return buffer


def release_workspace() -> None:
    """Free this thread's Winograd buffers (they are kept between calls; the next call allocates again)."""
    _workspaces.__dict__.clear()


def winograd_conv(x, u, out_channels, up=1, scale=None, demod=None, noise=None, strength=None, bias=None,
                  gain=1.0, lrelu=False, alpha=0.0, clamp=None, chunk_bytes=CHUNK_BYTES) -> torch.Tensor:
    """The layer: x [N, I, H, W] float32, u [36, up*up*O, I] (``transform_weight``), scale/demod [N, I]/[N, O]
    or None, noise [N or 1, 1, H*up, W*up] or None times strength [O], bias [O] or None
    -> [N, O, H*up, W*up] = clamp(act((conv(x * scale) * demod + noise * strength) + bias) * gain)."""
    n, in_channels, h, w = x.shape
    x = kernel_input("x", x, [n, in_channels, h, w])
    rows_per_image, tiles_w = (h + 3) // 4, (w + 3) // 4
    total_rows = n * rows_per_image
    phase_channels = u.shape[1]
    u = kernel_input("u", u, [36, up * up * out_channels, in_channels])
    scale = kernel_input("scale", scale, [n, in_channels])
    demod = kernel_input("demod", demod, [n, out_channels])
    noise = kernel_input("noise", noise, [-1, 1, h * up, w * up])
    if noise is not None and noise.shape[0] not in (1, n):
        raise ValueError(f"noise must have 1 or {n} maps, got {noise.shape[0]}")
    strength = kernel_input("strength", strength, [out_channels])
    bias = kernel_input("bias", bias, [out_channels])
    y = torch.empty(n, out_channels, h * up, w * up)
    bytes_per_row = 36 * max(in_channels, phase_channels) * tiles_w * 4
    rows = max(1, min(total_rows, chunk_bytes // bytes_per_row))
    v_buffer = _workspace("v", 36 * in_channels * rows * tiles_w)
    m_buffer = _workspace("m", 36 * phase_channels * rows * tiles_w)
    C, t = native(), threads()
    noise_stride = 0 if noise is None or noise.shape[0] == 1 else h * up * w * up
    for row in range(0, total_rows, rows):
        end = min(total_rows, row + rows)
        count = (end - row) * tiles_w
        v = v_buffer[: 36 * in_channels * count].view(36, in_channels, count)
        m = m_buffer[: 36 * phase_channels * count].view(36, phase_channels, count)
        with torch.profiler.record_function("cpu::winograd_input"):
            C.winograd_input(x.data_ptr(), pointer(scale), v.data_ptr(), n, in_channels, h, w, row, end, t)
        torch.bmm(u, v, out=m)
        with torch.profiler.record_function("cpu::winograd_output"):
            C.winograd_output(m.data_ptr(), y.data_ptr(), n, out_channels, h, w, up, row, end, pointer(demod),
                          pointer(noise), noise_stride, pointer(strength), pointer(bias), float(gain), bool(lrelu),
                              float(alpha), -1.0 if clamp is None else float(clamp), t)
    return y
