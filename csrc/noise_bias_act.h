// Per-element math of every layer's epilogue (noise_bias_act), for the CPU and CUDA kernels:
//     y = clamp(act((x + noise * strength) + bias) * gain)      act: identity or leaky ReLU
// in exactly the order of the reference (ops/noise_bias_act/reference.py): gain is applied before
// the activation, which equals act(v) * gain for gain > 0.
#pragma once

#include "host_device.h"

namespace stylegan_fast {

struct BiasAct {
  float gain = 1.0f;    // > 0
  float alpha = 0.0f;   // leaky ReLU slope, when lrelu
  float clamp = -1.0f;  // < 0: no clamping
  bool lrelu = false;   // false: linear
};

SGF_HOST_DEVICE float bias_act(float v, const BiasAct& p) {
  if (p.gain != 1.0f) v *= p.gain;
  if (p.lrelu && v < 0.0f) v *= p.alpha;
  if (p.clamp >= 0.0f) v = v < -p.clamp ? -p.clamp : (v > p.clamp ? p.clamp : v);
  return v;
}

// One element of noise_bias_act with noise: bias_act((x + noise * strength) + bias), the reference's order.
SGF_HOST_DEVICE float noise_bias_act_element(float x, float noise, float strength, float bias, const BiasAct& p) {
  return bias_act((x + noise * strength) + bias, p);
}

}  // namespace stylegan_fast
