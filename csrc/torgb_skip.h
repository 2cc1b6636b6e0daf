// torgb_skip's skip image upsampling, for the CPU and CUDA kernels (ops/torgb_skip/reference.py):
// upsample2d with a 4x4 filter (gain 4) gives output pixel (2b + py, 2c + px) as
//
//     sum_ij taps[py][px][i][j] * skip[b - 1 + py + i, c - 1 + px + j]       (zero outside skip)
//
// taps [2, 2, 2, 2]: reference.phase_taps, the filter's taps of each phase, gain included.
#pragma once

#include "host_device.h"

namespace stylegan_fast {

// One upsampled pixel from its phase's taps t [i][j] (4 values) and the 2x2 skip samples s_ij.
SGF_HOST_DEVICE float upsampled_skip(const float* t, float s00, float s01, float s10, float s11) {
  return t[0] * s00 + t[1] * s01 + t[2] * s10 + t[3] * s11;
}

}  // namespace stylegan_fast
