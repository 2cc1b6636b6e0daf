// upfirdn2d's index math, for the CPU and CUDA kernels (ops/upfirdn2d/reference.py):
//
//     y[oy, ox] = sum_ij taps[i, j] * u[oy * down + i - py0, ox * down + j - px0]
//     u[s] = x[s / up] where up divides s, else 0 (the zero-inserted image)
//
// Along one axis, output o meets u at s = o * down - pad + i for taps i = 0, 1, ...; only the taps
// with up | s hit a sample: the first one, then every up-th (polyphase).
#pragma once

#include "host_device.h"

namespace stylegan_fast {

template <class I>
SGF_HOST_DEVICE I floor_div(I a, I b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

template <class I>
SGF_HOST_DEVICE I floor_mod(I a, I b) {
  return a - floor_div(a, b) * b;
}

template <class I>
struct PolyphaseStart {
  I tap;    // the first tap that meets a sample: in [0, up)
  I index;  // the input index it meets; tap + k * up meets index + k
};

// s: the zero-inserted coordinate that tap 0 meets (o * down - pad).
template <class I>
SGF_HOST_DEVICE PolyphaseStart<I> polyphase_start(I s, I up) {
  const I tap = floor_mod(-s, up);
  return {tap, (s + tap) / up};  // exact: up divides s + tap
}

}  // namespace stylegan_fast
