// The noise stream's per-pixel math (ops/noise_stream/reference.py), for the CPU and CUDA kernels:
// Triton's tl.randn(seed, offset) = Box-Muller on the first two words of Philox4x32-10 with
// counter (offset, 0, 0, 0) and key (seed lo, seed hi) = (noise seed, layer), all in float32.
#pragma once

#include <math.h>
#include <stdint.h>

#include "host_device.h"

namespace stylegan_fast {

struct PhiloxWords {
  uint32_t w0, w1, w2, w3;
};

// Philox4x32 (Salmon et al., SC'11): `rounds` rounds, the key bumped after each.
SGF_HOST_DEVICE PhiloxWords philox4x32(PhiloxWords c, uint32_t k0, uint32_t k1, int rounds = 10) {
  for (int r = 0; r < rounds; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c.w0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c.w2;
    c = PhiloxWords{static_cast<uint32_t>(p1 >> 32) ^ c.w1 ^ k0, static_cast<uint32_t>(p1),
                    static_cast<uint32_t>(p0 >> 32) ^ c.w3 ^ k1, static_cast<uint32_t>(p0)};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// Triton's uint_to_uniform_float: the word as int32, negatives bitwise-notted, in [0, 1).
SGF_HOST_DEVICE float uniform_from_word(uint32_t w) {
  const int32_t folded = static_cast<int32_t>(w < 0x80000000u ? w : ~w);  // [0, 2^31 - 1]
  return static_cast<float>(folded) * 4.6566127342e-10f;
}

// Triton's pair_uniform_to_normal, the cosine output, every step in float32. On the GPU the cosine
// is cospif(2 u1) = cos(2 pi u1): cosf's reduction of huge arguments (never reached: theta < 2 pi)
// needs a local-memory array; the two differ by the rounding of theta, under 5e-7 (times r <= 5.7).
SGF_HOST_DEVICE float normal_from_uniforms(float u0, float u1) {
  u0 = u0 > 1.0e-7f ? u0 : 1.0e-7f;
  const float r = sqrtf(-2.0f * logf(u0));
#if defined(__CUDA_ARCH__)
  return r * cospif(2.0f * u1);
#else
  const float theta = 6.283185307179586f * u1;
  return r * cosf(theta);
#endif
}

// The noise value of pixel `offset` (y * W + x) of the map with key (noise seed, layer).
SGF_HOST_DEVICE float stream_normal(uint32_t noise_seed, uint32_t layer, uint32_t offset) {
  const PhiloxWords w = philox4x32(PhiloxWords{offset, 0u, 0u, 0u}, noise_seed, layer);
  return normal_from_uniforms(uniform_from_word(w.w0), uniform_from_word(w.w1));
}

}  // namespace stylegan_fast
