// StyleGAN2's modulation without per-sample weights: the styles the prologue multiplies by, and the
// demodulation coefficients the epilogue multiplies by (ops/modulated_conv2d/reference.py):
//
//     s'[n, i] = s[n, i]  (/ max_i |s[n, i]| for float16 activations: the reference's overflow guard)
//     d[n, o]  = demodulation_coefficient(sum_i s'[n, i]^2 * Wsq[o, i])            (csrc/modulation.h)
//
// Block: kSamples samples x kOutputs output channels, one warp per output channel. The block stages
// the samples' styles kChunk input channels at a time in shared memory; lane l of a warp sums the
// input channels l, l + 32, ... in order, then the warp adds its lanes in a fixed butterfly: every
// sample's sums have one order whatever the batch, so an image does not change with its batch.
#include "cuda/common.cuh"
#include "modulation.h"

namespace stylegan_fast {
namespace cuda {

namespace {

constexpr int kWarps = kThreads / 32;
constexpr int kSamples = kWarps;   // samples per block (warp j finds sample j's largest style)
constexpr int kOutputs = kWarps;   // output channels per block
constexpr int kChunk = 256;        // input channels staged at a time
constexpr unsigned kAllLanes = 0xffffffffu;

__global__ void __launch_bounds__(kThreads)
    demodulation_kernel(const float* styles, const float* w_sq, float* styles_out, float* d, int64_t N, int I, int O,
                        bool rescale) {
  __shared__ float staged[kSamples][kChunk];  // s' of the block's samples, input channels [i0, i0 + kChunk)
  __shared__ float peak[kSamples];
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int o = static_cast<int>(blockIdx.x) * kOutputs + warp;
  for (int64_t n0 = static_cast<int64_t>(blockIdx.y) * kSamples; n0 < N;
       n0 += static_cast<int64_t>(gridDim.y) * kSamples) {
    if (rescale) {
      const int64_t n = n0 + warp;
      float m = 0.0f;
      if (n < N)
        for (int i = lane; i < I; i += 32) m = fmaxf(m, fabsf(styles[n * I + i]));
      for (int width = 16; width > 0; width /= 2) m = fmaxf(m, __shfl_xor_sync(kAllLanes, m, width));
      if (lane == 0) peak[warp] = m;
    }
    __syncthreads();
    float acc[kSamples] = {};
    for (int i0 = 0; i0 < I; i0 += kChunk) {
      for (int t = static_cast<int>(threadIdx.x); t < kSamples * kChunk; t += kThreads) {
        const int j = t / kChunk, i = i0 + t % kChunk;
        const int64_t n = n0 + j;
        float s = 0.0f;
        if (n < N && i < I) {
          s = styles[n * I + i];
          if (rescale) s = s / peak[j];
          if (blockIdx.x == 0) styles_out[n * I + i] = s;
        }
        staged[j][t % kChunk] = s;
      }
      __syncthreads();
      if (o < O) {
        const float* w_row = w_sq + static_cast<int64_t>(o) * I + i0;
        for (int i = lane; i < kChunk && i0 + i < I; i += 32) {
          const float w = w_row[i];
#pragma unroll
          for (int j = 0; j < kSamples; ++j) acc[j] += w * (staged[j][i] * staged[j][i]);
        }
      }
      __syncthreads();  // before the next chunk (or sample group) overwrites staged and peak
    }
    if (o < O) {
#pragma unroll
      for (int j = 0; j < kSamples; ++j) {
        float sum = acc[j];
        for (int width = 16; width > 0; width /= 2) sum += __shfl_xor_sync(kAllLanes, sum, width);
        if (lane == 0 && n0 + j < N) d[(n0 + j) * O + o] = demodulation_coefficient(sum);
      }
    }
  }
}

}  // namespace

void demodulation(uintptr_t styles, uintptr_t w_sq, uintptr_t styles_out, uintptr_t d, int64_t N, int64_t I,
                  int64_t O, bool rescale, Launch launch) {
  if (I < 0 || O < 0 || I > INT_MAX || O > INT_MAX - kOutputs)
    throw std::invalid_argument("demodulation_kernel: " + std::to_string(I) + " input and " + std::to_string(O) +
                                " output channels are more than it indexes");
  DeviceGuard device(launch.device);
  launch_images(demodulation_kernel, "demodulation_kernel", ceil_div(O, kOutputs), ceil_div(N, kSamples), launch,
                reinterpret_cast<const float*>(styles), reinterpret_cast<const float*>(w_sq),
                reinterpret_cast<float*>(styles_out), reinterpret_cast<float*>(d), N, static_cast<int>(I),
                static_cast<int>(O), rescale);
}

}  // namespace cuda
}  // namespace stylegan_fast
