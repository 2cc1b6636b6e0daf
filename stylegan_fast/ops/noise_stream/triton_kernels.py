"""noise_stream in Triton: the noise maps drawn in a kernel with tl.randn, the stream reference.py specifies.

Pixel p = y * W + x of image n is ``tl.randn(noise_seeds[n] | (layer << 32), p)`` in float32, cast
to the output dtype. Program (pixel block, image) loads the image's int64 seed and draws BLOCK pixels.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..triton_support import POINTER_TYPES, KernelSpec

BLOCK, NUM_WARPS = 1024, 4  # pixels per program
MAX_GRID_Y = 65535  # CUDA's limit on grid dimension 1 (images): larger batches launch in chunks


@triton.jit
def noise_stream_kernel(seeds_ptr, y_ptr, layer, last_pixel, BLOCK: tl.constexpr):
    """seeds [N] int64 -> y [N, H*W]; last_pixel = H*W - 1 (H*W itself may be 2^31, not an int32)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # pixel y * W + x, int32
    image = tl.program_id(1)
    key = tl.load(seeds_ptr + image) | (layer.to(tl.int64) << 32)  # the 64-bit Philox key
    z = tl.randn(key, offs)
    n_pixels = last_pixel.to(tl.int64) + 1
    tl.store(y_ptr + image.to(tl.int64) * n_pixels + offs, z.to(y_ptr.dtype.element_ty), mask=offs <= last_pixel)


def noise_stream(noise_seeds, layer, height, width, dtype=torch.float32, device=None):
    """The reference's signature (arguments checked by ops.noise_stream): [N] seeds -> [N, 1, H, W].

    float32, float16 and bfloat16 maps are written by the kernel; other floating dtypes (float64)
    are the float32 map cast, as in the reference."""
    device = noise_seeds.device if device is None else torch.device(device)
    seeds = noise_seeds.to(device=device, dtype=torch.int64).contiguous()  # [N]
    kernel_dtype = dtype if dtype in POINTER_TYPES else torch.float32
    out = torch.empty(seeds.numel(), 1, height, width, dtype=kernel_dtype, device=device)  # [N, 1, H, W]
    n_pixels = height * width
    for start in range(0, seeds.numel(), MAX_GRID_Y):
        chunk = seeds[start:start + MAX_GRID_Y]
        grid = (triton.cdiv(n_pixels, BLOCK), chunk.numel())
        noise_stream_kernel[grid](chunk, out[start:start + MAX_GRID_Y], int(layer), n_pixels - 1, BLOCK=BLOCK,
                                  num_warps=NUM_WARPS)
    return out if kernel_dtype == dtype else out.to(dtype)


def kernel_specs() -> list[KernelSpec]:
    """Every configuration noise_stream's launcher can pick: one per output dtype."""
    configs = [dict(signature={"seeds_ptr": "*i64", "y_ptr": p, "layer": "i32", "last_pixel": "i32",
                               "BLOCK": "constexpr"},
                    constexprs=dict(BLOCK=BLOCK), num_warps=NUM_WARPS)
               for p in POINTER_TYPES.values()]
    return [KernelSpec("noise_stream_kernel", noise_stream_kernel, configs)]
