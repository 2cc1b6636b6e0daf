// Demodulation of StyleGAN2's modulated convolution (ops/modulated_conv2d/reference.py), for the
// CUDA kernels:  d[n, o] = rsqrt(sum_i s[n, i]^2 * Wsq[o, i] + 1e-8),  Wsq[o, i] = sum_k w[o, i, k]^2.
#pragma once

#include <math.h>

#include "host_device.h"

namespace stylegan_fast {

SGF_HOST_DEVICE float demodulation_coefficient(float sum_of_squares) { return 1.0f / sqrtf(sum_of_squares + 1e-8f); }

}  // namespace stylegan_fast
