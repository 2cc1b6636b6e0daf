// torgb_skip: StyleGAN2's output branch in one pass over x, the image written once:
//
//     y[n, o, p] = clamp(sum_c weights[n, o, c] * x[n, c, p] + bias[o])      (weights: weight * styles)
//     img        = upsample2d(skip) + y                                      (or y alone)
//
// One thread per pixel computes its O <= 4 output channels: consecutive threads take consecutive
// pixels of one image, so the weights they read are one broadcast address; the skip image's 2x2
// neighbourhood and phase taps give the upsampled value (csrc/torgb_skip.h, shared with the CPU).
#include "cuda/common.cuh"
#include "noise_bias_act.h"
#include "torgb_skip.h"

namespace stylegan_fast {
namespace cuda {

namespace {

template <class Tx, class Ty>
struct Torgb {
  const Tx* x;  // [N, C, H, W]
  Strides4 xs;
  const float* weights;  // [N, O, C]
  const float* bias;     // [O] or null
  const Ty* skip;        // [N, O, H / 2, W / 2] or null
  Strides4 skip_strides;
  const float* taps;  // [2, 2, 2, 2]
  Ty* y;              // [N, O, H, W]
  Strides4 ys;
  int64_t N;
  int C, O, H, W;
  BiasAct act;  // the clamp
};

template <class Ty>
__device__ __forceinline__ float skip_sample(const Ty* plane, const Strides4& s, int row, int col, int rows,
                                             int cols) {
  return row >= 0 && row < rows && col >= 0 && col < cols ? to_float(plane[row * s.h + col * s.w]) : 0.0f;
}

template <class Tx, class Ty, bool kSkip>
__global__ void __launch_bounds__(kThreads) torgb_skip_kernel(Torgb<Tx, Ty> a) {
  const int p = static_cast<int>(blockIdx.x) * kThreads + static_cast<int>(threadIdx.x);
  if (p >= a.H * a.W) return;
  const int h = p / a.W, w = p - h * a.W;
  for (int64_t n = blockIdx.y; n < a.N; n += gridDim.y) {
    const Tx* x = a.x + offset(a.xs, n, 0, h, w);
    const float* weights = a.weights + n * a.O * a.C;
    float acc[kTorgbMaxChannels] = {};
#pragma unroll 4
    for (int c = 0; c < a.C; ++c) {
      const float v = to_float(x[c * a.xs.c]);
#pragma unroll
      for (int o = 0; o < kTorgbMaxChannels; ++o)
        if (o < a.O) acc[o] += weights[o * a.C + c] * v;
    }
#pragma unroll
    for (int o = 0; o < kTorgbMaxChannels; ++o) {
      if (o >= a.O) break;
      float v = bias_act(acc[o] + (a.bias ? a.bias[o] : 0.0f), a.act);
      if constexpr (kSkip) {  // output (2b + py, 2c + px) reads skip rows b - 1 + py + i, columns c - 1 + px + j
        const int py = h & 1, px = w & 1, row = (h >> 1) - 1 + py, col = (w >> 1) - 1 + px;
        const int rows = a.H / 2, cols = a.W / 2;
        const Ty* plane = a.skip + offset(a.skip_strides, n, o, 0, 0);
        const Strides4& s = a.skip_strides;
        v = upsampled_skip(a.taps + (py * 2 + px) * 4, skip_sample(plane, s, row, col, rows, cols),
                           skip_sample(plane, s, row, col + 1, rows, cols),
                           skip_sample(plane, s, row + 1, col, rows, cols),
                           skip_sample(plane, s, row + 1, col + 1, rows, cols)) +
            v;
      }
      a.y[offset(a.ys, n, o, h, w)] = from_float<Ty>(v);
    }
  }
}

template <class Tx, class Ty>
void run_torgb(const Torgb<Tx, Ty>& a, bool skip, const Launch& launch) {
  const int64_t tiles = ceil_div(static_cast<int64_t>(a.H) * a.W, kThreads);
  if (skip)
    launch_images(torgb_skip_kernel<Tx, Ty, true>, "torgb_skip_kernel", tiles, a.N, launch, a);
  else
    launch_images(torgb_skip_kernel<Tx, Ty, false>, "torgb_skip_kernel", tiles, a.N, launch, a);
}

}  // namespace

void torgb_skip(DType x_dtype, DType y_dtype, Shape4 in, uintptr_t x, Strides4 xs, uintptr_t weights, uintptr_t bias,
                int64_t O, uintptr_t skip, Strides4 skip_strides, uintptr_t skip_taps, float clamp, uintptr_t y,
                Strides4 ys, Launch launch) {
  image_elements(in, "torgb_skip_kernel");
  image_elements(Shape4{in.N, O, in.H, in.W}, "torgb_skip_kernel");
  if (O < 1 || O > kTorgbMaxChannels)
    throw std::invalid_argument("torgb_skip_kernel: takes 1 to " + std::to_string(kTorgbMaxChannels) +
                                " image channels, got " + std::to_string(O));
  if (skip && (in.H % 2 || in.W % 2 || !skip_taps))
    throw std::invalid_argument("torgb_skip_kernel: a skip image needs an even H and W and its phase taps, got " +
                                std::to_string(in.H) + " x " + std::to_string(in.W));
  if (y_dtype != x_dtype && y_dtype != DType::kFloat32)
    throw std::invalid_argument("torgb_skip_kernel: the image's dtype must be x's or float32");
  DeviceGuard device(launch.device);
  with_dtype(x_dtype, [&](auto x_type) {
    using Tx = typename decltype(x_type)::type;
    auto run = [&](auto y_type) {
      using Ty = typename decltype(y_type)::type;
      const Torgb<Tx, Ty> a{reinterpret_cast<const Tx*>(x), xs, reinterpret_cast<const float*>(weights),
                            reinterpret_cast<const float*>(bias), reinterpret_cast<const Ty*>(skip), skip_strides,
                            reinterpret_cast<const float*>(skip_taps), reinterpret_cast<Ty*>(y), ys, in.N,
                            static_cast<int>(in.C), static_cast<int>(O), static_cast<int>(in.H),
                            static_cast<int>(in.W), BiasAct{1.0f, 0.0f, clamp, false}};
      run_torgb(a, skip != 0, launch);
    };
    if (y_dtype == x_dtype)
      run(Type<Tx>{});
    else
      run(Type<float>{});
  });
}

}  // namespace cuda
}  // namespace stylegan_fast
