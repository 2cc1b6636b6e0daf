// noise_bias_act on the CPU: every layer's epilogue in one pass over x into a new tensor.
//
//     y[n, c, p] = bias_act((x[n, c, p] + noise[n, p] * strength[c]) + bias[c])
//
// x is viewed as [N, C, S] (S: the product of the spatial sizes, 1 for the mapping network's
// [N, C]). A work item is a block of one plane's elements, whose noise strength and bias are
// constants; for S == 1 it is a row of C channels instead, with bias and strength per element.
// (The build's -fno-trapping-math lets GCC vectorize the leaky ReLU and clamp branches.)

#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "noise_bias_act.h"

namespace py = pybind11;

namespace stylegan_fast {
namespace cpu {

namespace {

constexpr int64_t kBlock = 16384;            // elements per work item (64 KiB)
constexpr int64_t kElementsPerThread = 1 << 16;  // below this, fewer threads (no gain from more)

struct NoiseBiasAct {
  const float* x;         // [N, C, S]
  const float* bias;      // [C] or null
  const float* noise;     // [N or 1, S] or null
  const float* strength;  // [C] or [1], with noise
  float* y;               // [N, C, S]
  int64_t N, C, S;
  int64_t noise_batch_stride;  // S, or 0 for one noise map shared by the batch
  int64_t strength_stride;     // 1, or 0 for one strength shared by the channels
  BiasAct act;
};

// The constant per-plane case: elements [begin, end) of plane (n, c).
void plane_block(const NoiseBiasAct& a, int64_t plane, int64_t begin, int64_t end) {
  const int64_t n = plane / a.C, c = plane % a.C;
  const float* __restrict x = a.x + plane * a.S;
  float* __restrict y = a.y + plane * a.S;
  const float b = a.bias ? a.bias[c] : 0.0f;
  const BiasAct p = a.act;
  if (a.noise) {
    const float* __restrict z = a.noise + n * a.noise_batch_stride;
    const float s = a.strength[c * a.strength_stride];
    for (int64_t i = begin; i < end; ++i) y[i] = noise_bias_act_element(x[i], z[i], s, b, p);
  } else {
    for (int64_t i = begin; i < end; ++i) y[i] = bias_act(x[i] + b, p);
  }
}

// S == 1: row n of [N, C], bias [C] (zeros when there is none).
void channel_row(const NoiseBiasAct& a, const float* __restrict bias, int64_t n) {
  const float* __restrict x = a.x + n * a.C;
  float* __restrict y = a.y + n * a.C;
  const BiasAct p = a.act;
  if (a.noise) {
    const float z = a.noise[n * a.noise_batch_stride];
    for (int64_t c = 0; c < a.C; ++c)
      y[c] = noise_bias_act_element(x[c], z, a.strength[c * a.strength_stride], bias[c], p);
  } else {
    for (int64_t c = 0; c < a.C; ++c) y[c] = bias_act(x[c] + bias[c], p);
  }
}

void noise_bias_act(const NoiseBiasAct& a, int threads) {
  const int64_t total = a.N * a.C * a.S;
  threads = static_cast<int>(std::clamp<int64_t>(total / kElementsPerThread, 1, std::max(threads, 1)));
  if (a.S == 1) {
    std::vector<float> zeros;
    const float* bias = a.bias;
    if (!bias) {
      zeros.assign(a.C, 0.0f);
      bias = zeros.data();
    }
    parallel_for(a.N, threads, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) channel_row(a, bias, n);
    });
    return;
  }
  const int64_t blocks = (a.S + kBlock - 1) / kBlock;  // per plane
  parallel_for(a.N * a.C * blocks, threads, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t plane = item / blocks, block = item % blocks;
      plane_block(a, plane, block * kBlock, std::min(a.S, (block + 1) * kBlock));
    }
  });
}

}  // namespace

void bind_noise_bias_act(py::module_& m) {
  m.def(
      "noise_bias_act",
      [](uintptr_t x, uintptr_t bias, uintptr_t noise, uintptr_t strength, uintptr_t y, int64_t N, int64_t C,
         int64_t S, int64_t noise_batch_stride, int64_t strength_stride, float gain, bool lrelu, float alpha,
         float clamp, int threads) {
        NoiseBiasAct args{pointer<const float>(x), pointer<const float>(bias), pointer<const float>(noise),
                          pointer<const float>(strength), pointer<float>(y), N, C, S, noise_batch_stride,
                          strength_stride, BiasAct{gain, alpha, clamp, lrelu}};
        py::gil_scoped_release nogil;
        noise_bias_act(args, threads);
      },
      "y [N, C, S] = bias_act((x + noise * strength) + bias) for x [N, C, S] float32; bias [C], noise [N or 1, S] "
      "(batch stride S or 0) and strength [C] or [1] (stride 1 or 0) optional (pointer 0).");
}

}  // namespace cpu
}  // namespace stylegan_fast
