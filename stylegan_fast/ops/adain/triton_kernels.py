"""adain in Triton: instance norm and per-sample affine, one program per (n, c) plane, float32 math.

    y = scale[n, c] * (x - mean) / sqrt(var + eps) + shift[n, c]        (see reference.py)

The statistics are those of x - k, k = the plane's first element: x - k is exact in float32 for
the values near k that matter, so a plane with a large offset (mean 1000, std 1) keeps float32
accuracy in its variance and in x - mean (never formed as x - 1000.0001).

* Planes of up to PLANE_BLOCKS[-1] elements (4x4 .. 64x64): one load, mean and variance in
  registers (exact two passes over the loaded block), one store.
* Larger planes (up to 1024x1024): pass 1 runs Welford per lane over blocks of LOOP_BLOCK
  elements (lane i sees elements i, i + BLOCK, ...) and merges the lanes (Chan et al.), no
  sum-of-squares cancellation; pass 2 applies, last block first (the blocks pass 1 read last are
  the likeliest still in L2). Fixed chunking: the result does not depend on the batch.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..triton_support import POINTER_TYPES, KernelSpec

PLANE_BLOCKS = {16: 1, 64: 1, 256: 2, 1024: 4, 4096: 8}  # one-block planes: BLOCK -> num_warps
LOOP_BLOCK, LOOP_WARPS = 4096, 8  # planes larger than PLANE_BLOCKS' largest


@triton.jit
def adain_plane_kernel(x_ptr, y_ptr, scale_ptr, shift_ptr, L, eps, BLOCK: tl.constexpr):
    """One plane of L <= BLOCK elements per program."""
    plane = tl.program_id(0)  # n * C + c
    base = plane.to(tl.int64) * L
    offs = tl.arange(0, BLOCK)
    mask = offs < L
    k = tl.load(x_ptr + base).to(tl.float32)
    xs = tl.where(mask, tl.load(x_ptr + base + offs, mask=mask, other=0.0).to(tl.float32) - k, 0.0)
    count = L.to(tl.float32)
    m = tl.div_rn(tl.sum(xs, axis=0), count)  # mean - k
    d = tl.where(mask, xs - m, 0.0)  # x - mean
    var = tl.div_rn(tl.sum(d * d, axis=0), count)
    a = tl.div_rn(tl.load(scale_ptr + plane), tl.sqrt_rn(var + eps))
    y = d * a + tl.load(shift_ptr + plane)
    tl.store(y_ptr + base + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def adain_looped_kernel(x_ptr, y_ptr, scale_ptr, shift_ptr, L, eps, BLOCK: tl.constexpr):
    """One plane of L > BLOCK elements per program: Welford pass over blocks, then the apply pass."""
    plane = tl.program_id(0)  # n * C + c
    x_plane = x_ptr + plane.to(tl.int64) * L
    y_plane = y_ptr + plane.to(tl.int64) * L
    lanes = tl.arange(0, BLOCK)
    k = tl.load(x_plane).to(tl.float32)
    one = tl.full([], 1.0, tl.float32)

    # Pass 1: per lane, the mean of its elements minus k and their sum of squared deviations.
    n_full = L // BLOCK
    mean = tl.zeros([BLOCK], dtype=tl.float32)
    m2 = tl.zeros([BLOCK], dtype=tl.float32)
    seen = tl.full([], 0.0, tl.float32)  # elements per lane so far
    for i in range(n_full):
        xs = tl.load(x_plane + i * BLOCK + lanes).to(tl.float32) - k
        seen += 1.0
        delta = xs - mean
        mean += delta * tl.div_rn(one, seen)
        m2 += delta * (xs - mean)
    tail = lanes < L - n_full * BLOCK  # these lanes take one element more
    xs = tl.load(x_plane + n_full * BLOCK + lanes, mask=tail, other=0.0).to(tl.float32) - k
    delta = tl.where(tail, xs - mean, 0.0)
    mean += delta * tl.div_rn(one, seen + 1.0)
    m2 += delta * (xs - mean)

    # Merge the lanes: mean and variance of the plane.
    lane_count = seen + tail.to(tl.float32)
    count = L.to(tl.float32)
    m = tl.div_rn(tl.sum(lane_count * mean, axis=0), count)  # mean - k
    dm = mean - m
    var = tl.div_rn(tl.sum(m2, axis=0) + tl.sum(lane_count * dm * dm, axis=0), count)
    a = tl.div_rn(tl.load(scale_ptr + plane), tl.sqrt_rn(var + eps))
    shift = tl.load(shift_ptr + plane)

    # Pass 2: apply, from the last block back.
    n_blocks = tl.cdiv(L, BLOCK)
    for j in range(n_blocks):
        offs = (n_blocks - 1 - j) * BLOCK + lanes
        mask = offs < L
        x = tl.load(x_plane + offs, mask=mask, other=0.0).to(tl.float32)
        y = ((x - k) - m) * a + shift
        tl.store(y_plane + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


def adain(x, scale, shift, eps):
    """The reference's signature (shapes checked by ops.adain): x [N, C, H, W], scale/shift [N, C]."""
    if x.dtype not in POINTER_TYPES:
        raise TypeError(f"the Triton adain kernel takes float32, float16 or bfloat16 x, got {x.dtype} "
                        f"(backend='reference' keeps float64 in float64)")
    x = x.contiguous()
    n, c, h, w = x.shape
    length = h * w
    y = torch.empty_like(x)
    if y.numel() == 0:
        return y
    scale = scale.to(device=x.device, dtype=torch.float32).contiguous()  # [N, C]
    shift = shift.to(device=x.device, dtype=torch.float32).contiguous()  # [N, C]
    block = next((b for b in PLANE_BLOCKS if length <= b), None)
    if block is not None:
        adain_plane_kernel[(n * c,)](x, y, scale, shift, length, float(eps), BLOCK=block,
                                     num_warps=PLANE_BLOCKS[block])
    else:
        adain_looped_kernel[(n * c,)](x, y, scale, shift, length, float(eps), BLOCK=LOOP_BLOCK,
                                      num_warps=LOOP_WARPS)
    return y


def kernel_specs() -> list[KernelSpec]:
    """Every configuration adain's launcher can pick (the x/y pointer types follow x's dtype)."""
    def config(dtype, block, num_warps):
        p = POINTER_TYPES[dtype]
        signature = {"x_ptr": p, "y_ptr": p, "scale_ptr": "*fp32", "shift_ptr": "*fp32", "L": "i32",
                     "eps": "fp32", "BLOCK": "constexpr"}
        return dict(signature=signature, constexprs=dict(BLOCK=block), num_warps=num_warps)

    return [
        KernelSpec("adain_plane_kernel", adain_plane_kernel,
                   [config(dtype, block, warps) for dtype in POINTER_TYPES for block, warps in PLANE_BLOCKS.items()]),
        KernelSpec("adain_looped_kernel", adain_looped_kernel,
                   [config(dtype, LOOP_BLOCK, LOOP_WARPS) for dtype in POINTER_TYPES]),
    ]
