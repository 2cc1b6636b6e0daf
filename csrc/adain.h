// adain's per-plane math, for the CPU and CUDA kernels (ops/adain/reference.py):
//
//     y = ((x - mean) * rsqrt(var + eps)) * scale + shift          (mean, biased var of the plane)
//
// computed as (((x - center) - mean') * rstd) * scale + shift with mean' the mean of x - center, for a
// center near the plane's values (the CPU: the mean itself; the GPU: the plane's first element), so
// that x - center is exact and a plane far from zero (mean 1000, spread 1) keeps float32 accuracy.
//
// Moments: count, mean and sum of squared deviations (m2) of a set of values, built one value at
// a time (Welford) and merged (Chan et al.), so a plane's statistics need one pass over it and no
// E[x^2] - mean^2 cancellation.
#pragma once

#include <math.h>

#include "host_device.h"

namespace stylegan_fast {

struct Moments {  // Moments{}: no values yet
  float count;  // exact up to 2^24 values
  float mean;
  float m2;
};

SGF_HOST_DEVICE void moments_add(Moments& m, float v) {
  m.count += 1.0f;
  const float delta = v - m.mean;
  m.mean += delta / m.count;
  m.m2 += delta * (v - m.mean);
}

SGF_HOST_DEVICE Moments moments_merge(const Moments& a, const Moments& b) {
  const float count = a.count + b.count;
  if (count == 0.0f) return a;
  const float delta = b.mean - a.mean, wb = b.count / count;
  return Moments{count, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.count * wb};
}

SGF_HOST_DEVICE float adain_rstd(float var, float eps) { return 1.0f / sqrtf(var + eps); }

SGF_HOST_DEVICE float adain_apply(float x, float center, float mean, float rstd, float scale, float shift) {
  return (((x - center) - mean) * rstd) * scale + shift;
}

}  // namespace stylegan_fast
