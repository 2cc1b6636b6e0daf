"""styled_conv2d on the cuda backend: StyleGAN2's conv layer as prologue, torch's convolution, one epilogue.

    s', d = demodulation_kernel(styles, Wsq)                        # modulated_conv2d's launchers
    x'    = x * s'[n, i]                                            # scale_planes_kernel, channels_last
    y     = conv(x', weight)                                        # cuDNN in channels_last (+ FIR, up=2)
    y     = clamp(lrelu(y * d[n, o] + noise * strength + bias) * sqrt(2))     # styled_epilogue_kernel, in place

The epilogue reads the convolution's output once and writes the layer's output over it; the layer's
output is channels_last, as the convolution writes it.
"""
from __future__ import annotations

from .. import cuda_support as cs
from ..modulated_conv2d.cuda import modulate_and_convolve
from ..noise_bias_act.reference import ACTIVATIONS

_, ALPHA, GAIN = ACTIVATIONS["lrelu"]  # 0.2, sqrt(2)


def styled_conv2d(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp):
    """The reference's signature (arguments checked by ops.styled_conv2d)."""
    y, d = modulate_and_convolve(x, weight, styles, True, up, resample_filter)  # [N, O, H*up, W*up]
    bias = cs.parameter("bias", bias, [y.shape[1]], y.device)
    noise, noise_strides, strength, strength_stride = cs.noise_arguments(noise, noise_strength, y)
    cs.native().cuda_styled_epilogue(
        cs.dtype_code(y), tuple(y.shape), y.data_ptr(), cs.strides(y), d.data_ptr(), cs.pointer(bias),
        cs.pointer(noise), noise_strides, cs.pointer(strength), strength_stride, float(GAIN), True, float(ALPHA),
        -1.0 if clamp is None else float(clamp), *cs.launch(y.device))
    return y
