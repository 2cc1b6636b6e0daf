"""upfirdn2d in Triton: one direct pass per output tile, computing in float32 whatever the I/O dtype.

    y[oy, ox] = sum_ij g[i, j] * p[oy*down + i, ox*down + j]               (see reference.py)

where p is the input upsampled by zero insertion and padded (negative = cropped), and g the
correlation filter: the 2-D filter (outer(f, f) for a 1-D f) flipped unless flip_filter, times
gain, built on the host. p[yy] is a real sample only where yy - py0 is a multiple of up, so a
program never visits the inserted zeros: for output row oy the taps that land on samples are
i = r + k*up with r = (py0 - oy*down) mod up (polyphase), i.e. K = ceil(fh / up) taps per axis.

Program ``pid`` computes a BLOCK_H x BLOCK_W tile of one (n, c) plane; row and column
coordinates are vectors [BLOCK_H, 1] and [1, BLOCK_W], so per-tap index math is per row and
per column, and only the load and the FMA are per pixel. Filter rows are a loop and columns are
unrolled (unrolling both let the compiler hoist every tap's load: up to 176 registers, and
spills on sm_90 with 12 taps). The filter is zero-padded on the host to (K*up) x (K*up), so its
loads need no mask; the input mask stops each row's and column's taps at the real filter's end
(and the input's), so an inf in the input never meets a padded zero.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from ..triton_support import POINTER_TYPES, KernelSpec
from . import reference

MAX_TAPS = 12  # filter taps per axis the kernels cover; longer filters run the reference
UPS = (1, 2, 4)
# (BLOCK_H, BLOCK_W, num_warps): outputs up to 8 wide (4x4, 8x8 layers), up to 16 wide, and the rest;
# at most four outputs per thread (a 16x64 tile, eight, needs up to 176 registers on sm_90)
TILES = ((8, 8, 2), (16, 16, 4), (16, 32, 4))


def taps_per_phase(up: int) -> range:
    """The K (filter taps per axis that meet real samples) the kernels are compiled for, per up."""
    return range(1, -(-MAX_TAPS // up) + 1)


@triton.jit
def upfirdn2d_kernel(x_ptr, f_ptr, y_ptr, H, W, OH, OW, FH, FW, DOWN, PX0, PY0, TILES_X, TILES,
                     UP: tl.constexpr, K: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    # x: [planes, H, W]; y: [planes, OH, OW]; f: [K*UP, K*UP] float32 (correlation taps, gain applied)
    pid = tl.program_id(0)
    plane = pid // TILES
    tile = pid % TILES
    oy = (tile // TILES_X) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]  # [BLOCK_H, 1]
    ox = (tile % TILES_X) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]  # [1, BLOCK_W]
    # Coordinate, in the zero-inserted image, that filter tap 0 meets; the first tap on a real sample
    # is r (the phase) and that sample is x[(u + r) / UP]. UP is a power of two: & is a non-negative mod.
    uy = oy * DOWN - PY0
    ux = ox * DOWN - PX0
    if UP == 1:  # every tap is on a sample: phases 0, and the filter taps are scalars below
        ry, rx, iy0, ix0 = 0, 0, uy, ux
    else:
        ry = (0 - uy) & (UP - 1)
        rx = (0 - ux) & (UP - 1)
        iy0 = (uy + ry) // UP  # exact division
        ix0 = (ux + rx) // UP
    # Taps ry + k*UP < FH are real, i.e. k < ceil((FH - ry) / UP): the input rows iy0 + k below iy_end
    # (>= 0: ry < UP). Past it are the zero-padded taps and the input's end.
    iy_end = tl.minimum(iy0 + (FH - ry + UP - 1) // UP, H)  # [BLOCK_H, 1]
    ix_end = tl.minimum(ix0 + (FW - rx + UP - 1) // UP, W)  # [1, BLOCK_W]
    x_plane = x_ptr + plane.to(tl.int64) * H * W
    acc = tl.zeros([BLOCK_H, BLOCK_W], dtype=tl.float32)
    for ky in range(K):  # a loop (not unrolled): one row of taps in flight keeps registers low
        fy = ry + ky * UP  # filter row of this tap, per output row
        iy = iy0 + ky
        row_ok = (iy >= 0) & (iy < iy_end)
        row_ptr = x_plane + iy * W  # [BLOCK_H, 1]
        f_row = f_ptr + fy * (K * UP)  # one pointer (UP == 1) or one per output row
        for kx in tl.static_range(K):
            fx = rx + kx * UP
            ix = ix0 + kx
            col_ok = (ix >= 0) & (ix < ix_end)
            tap = tl.load(f_row + fx)  # one tap for the tile (UP == 1) or one per output (the phase varies)
            v = tl.load(row_ptr + ix, mask=row_ok & col_ok, other=0.0).to(tl.float32)
            acc += v * tap
    out_mask = (oy < OH) & (ox < OW)
    tl.store(y_ptr + plane.to(tl.int64) * OH * OW + oy * OW + ox, acc.to(y_ptr.dtype.element_ty), mask=out_mask)


def _correlation_filter(f, up, flip_filter, gain, device):
    """The kernel's filter: 2-D, flipped for a true convolution, times gain, zero-padded to K*up square."""
    g = torch.ones([1, 1], dtype=torch.float32, device=device) if f is None else f.to(device, torch.float32)
    if g.ndim == 1:
        g = g[:, None] * g[None, :]
    if not flip_filter:
        g = g.flip([0, 1])
    fh, fw = g.shape
    k = max(-(-fh // up), -(-fw // up))
    return F.pad(g * gain, [0, k * up - fw, 0, k * up - fh]).contiguous(), k


def _supported(x, f, up) -> bool:
    if x.dtype not in POINTER_TYPES or up not in UPS:
        return False
    return f is None or max(f.shape) <= MAX_TAPS


def upfirdn2d(x, f, up, down, padding, flip_filter, gain):
    """The reference's signature (arguments checked by ops.upfirdn2d); padding = (px0, px1, py0, py1).

    Configurations the kernels do not cover (up not in 1, 2, 4; more than 12 taps; dtypes other
    than float32/16, bfloat16; an empty output) run the reference.
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    fh, fw = (1, 1) if f is None else (f.shape[0], f.shape[0]) if f.ndim == 1 else tuple(f.shape)
    vh, vw = h * up + py0 + py1 - fh + 1, w * up + px0 + px1 - fw + 1  # before downsampling
    if not _supported(x, f, up) or vh < 1 or vw < 1 or n * c == 0:
        return reference.upfirdn2d(x, f, up, down, padding, flip_filter, gain)
    oh, ow = -(-vh // down), -(-vw // down)
    g, k = _correlation_filter(f, up, flip_filter, float(gain), x.device)
    x = x.contiguous()
    y = torch.empty([n, c, oh, ow], dtype=x.dtype, device=x.device)
    block_h, block_w, num_warps = _tile(ow)
    tiles_x = triton.cdiv(ow, block_w)
    tiles = triton.cdiv(oh, block_h) * tiles_x
    upfirdn2d_kernel[(n * c * tiles,)](
        x, g, y, h, w, oh, ow, fh, fw, down, px0, py0, tiles_x, tiles,
        UP=up, K=k, BLOCK_H=block_h, BLOCK_W=block_w, num_warps=num_warps)
    return y


def _tile(out_width: int):
    for tile in TILES:
        if out_width <= tile[1]:
            return tile
    return TILES[-1]


def kernel_specs() -> list[KernelSpec]:
    """Every configuration the launcher can pick: dtype x up x K (taps per phase) x tile."""
    configs = []
    for dtype, up, (block_h, block_w, num_warps) in itertools.product(POINTER_TYPES, UPS, TILES):
        for k in taps_per_phase(up):
            p = POINTER_TYPES[dtype]
            signature = {"x_ptr": p, "f_ptr": "*fp32", "y_ptr": p, **{name: "i32" for name in (
                "H", "W", "OH", "OW", "FH", "FW", "DOWN", "PX0", "PY0", "TILES_X", "TILES")}}
            constexprs = dict(UP=up, K=k, BLOCK_H=block_h, BLOCK_W=block_w)
            configs.append(dict(signature={**signature, **{name: "constexpr" for name in constexprs}},
                                constexprs=constexprs, num_warps=num_warps))
    return [KernelSpec("upfirdn2d_kernel", upfirdn2d_kernel, configs)]
