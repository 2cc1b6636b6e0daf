"""noise_stream on the cuda backend: csrc/cuda/noise_stream.cu draws the maps on the device, the stream
of reference.py (Triton's tl.randn; the integer words are exact, log/cos agree to libm ulps)."""
from __future__ import annotations

import torch

from .. import cuda_support as cs


def noise_stream(noise_seeds, layer, height, width, dtype=torch.float32, device=None):
    """The reference's signature (arguments checked by ops.noise_stream): seeds [N] -> [N, 1, H, W].

    float32, float16 and bfloat16 maps are written by the kernel; other floating dtypes (float64) are
    the float32 map cast, as in the reference."""
    seeds = cs.kernel_input("noise_seeds", noise_seeds, [-1], (torch.int64,))  # [N], on a CUDA device
    device = seeds.device if device is None else torch.device(device)
    if device.type != seeds.device.type:
        raise ValueError(f"the cuda backend's noise_stream draws maps on the seeds' CUDA device, got device {device}")
    seeds = seeds.to(device).contiguous()
    device = seeds.device  # with its index
    kernel_dtype = dtype if dtype in cs.KERNEL_DTYPES else torch.float32
    out = torch.empty(seeds.numel(), 1, height, width, dtype=kernel_dtype, device=device)  # [N, 1, H, W]
    cs.native().cuda_noise_stream(cs.dtype_code(out), seeds.data_ptr(), seeds.numel(), height * width, int(layer),
                                  out.data_ptr(), *cs.launch(device))
    return out if kernel_dtype == dtype else out.to(dtype)
