// upfirdn2d: zero-insertion upsampling, padding, FIR filter and downsampling in one pass, one output
// element per thread, multiplying no inserted zero (the polyphase taps of csrc/upfirdn2d.h):
//
//     y[n, c, oy, ox] = sum_ij taps[i, j] * u[oy * down + i - py0, ox * down + j - px0]
//
// taps: the correlation taps (the filter flipped unless flip_filter, gain applied; a separable
// filter as its outer product), float32 [fh, fw]. Threads walk the output in its layout's order
// (channels innermost for channels_last), so loads and stores are coalesced in both layouts.
//
//     upfirdn2d_kernel       any filter, up and down
//     upfirdn2d_up2_kernel   up 2 with a 4x4 filter: 2x2 taps per output (upsample2d of [1, 3, 3, 1])
//     upfirdn2d_4x4_kernel   up 1, 4x4 filter: StyleGAN2's [1, 3, 3, 1] after the transposed conv
//     upfirdn2d_3x3_kernel   up 1, 3x3 filter: StyleGAN1's [1, 2, 1] blur
#include "cuda/common.cuh"
#include "upfirdn2d.h"

namespace stylegan_fast {
namespace cuda {

namespace {

struct FirGeometry {
  const float* taps;  // [fh, fw]
  int fh, fw, up, down, px0, py0;
  int H, W;  // input size
};

// One output: the taps per phase and axis are kTapsY x kTapsX (0: counted at run time), up is kUp
// (0: geometry.up). Rows, then columns in order.
template <class T, int kUp, int kTapsY, int kTapsX>
__device__ __forceinline__ float fir_output(const T* plane, const Strides4& xs, const FirGeometry& g, int oy,
                                            int ox) {
  const int up = kUp ? kUp : g.up;
  const PolyphaseStart<int> sy = polyphase_start(oy * g.down - g.py0, up);
  const PolyphaseStart<int> sx = polyphase_start(ox * g.down - g.px0, up);
  const int taps_y = kTapsY ? kTapsY : (g.fh - sy.tap + up - 1) / up;  // the taps ty + k * up < fh
  const int taps_x = kTapsX ? kTapsX : (g.fw - sx.tap + up - 1) / up;
  float acc = 0.0f;
#pragma unroll
  for (int ky = 0; ky < taps_y; ++ky) {
    const int i = sy.tap + ky * up, iy = sy.index + ky;
    if ((kTapsY && i >= g.fh) || iy < 0 || iy >= g.H) continue;
    const float* tap_row = g.taps + i * g.fw;
    const T* x_row = plane + iy * xs.h;
#pragma unroll
    for (int kx = 0; kx < taps_x; ++kx) {
      const int j = sx.tap + kx * up, ix = sx.index + kx;
      if ((kTapsX && j >= g.fw) || ix < 0 || ix >= g.W) continue;
      acc += __ldg(tap_row + j) * to_float(x_row[ix * xs.w]);
    }
  }
  return acc;
}

template <class T, int kUp, int kTapsY, int kTapsX>
__device__ __forceinline__ void upfirdn2d_outputs(const T* x, const Strides4& xs, const FirGeometry& g, T* y,
                                                  const Strides4& ys, int64_t N, const Walk& walk) {
  const int first = static_cast<int>(blockIdx.x) * kTile + static_cast<int>(threadIdx.x);
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int e = first + k * kThreads;
      if (e >= walk.count) break;
      const Pixel q = walk.at(e);
      const T* plane = x + n * xs.n + q.c * xs.c;
      y[offset(ys, n, q)] = from_float<T>(fir_output<T, kUp, kTapsY, kTapsX>(plane, xs, g, q.h, q.w));
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    upfirdn2d_kernel(const T* x, Strides4 xs, FirGeometry g, T* y, Strides4 ys, int64_t N, Walk walk) {
  upfirdn2d_outputs<T, 0, 0, 0>(x, xs, g, y, ys, N, walk);
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    upfirdn2d_up2_kernel(const T* x, Strides4 xs, FirGeometry g, T* y, Strides4 ys, int64_t N, Walk walk) {
  upfirdn2d_outputs<T, 2, 2, 2>(x, xs, g, y, ys, N, walk);
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    upfirdn2d_4x4_kernel(const T* x, Strides4 xs, FirGeometry g, T* y, Strides4 ys, int64_t N, Walk walk) {
  upfirdn2d_outputs<T, 1, 4, 4>(x, xs, g, y, ys, N, walk);
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    upfirdn2d_3x3_kernel(const T* x, Strides4 xs, FirGeometry g, T* y, Strides4 ys, int64_t N, Walk walk) {
  upfirdn2d_outputs<T, 1, 3, 3>(x, xs, g, y, ys, N, walk);
}

bool fits_int(int64_t v) { return v >= INT_MIN / 4 && v <= INT_MAX / 4; }

}  // namespace

void upfirdn2d(DType dtype, Shape4 in, uintptr_t x, Strides4 xs, Fir fir, int64_t OH, int64_t OW, uintptr_t y,
               Strides4 ys, Launch launch) {
  const Shape4 out{in.N, in.C, OH, OW};
  const Walk walk = make_walk(out, ys, "upfirdn2d_kernel");
  if (fir.up < 1 || fir.down < 1 || fir.fh < 1 || fir.fw < 1)
    throw std::invalid_argument("upfirdn2d: up, down and the filter size must be positive, got up " +
                                std::to_string(fir.up) + ", down " + std::to_string(fir.down) + ", filter " +
                                std::to_string(fir.fh) + " x " + std::to_string(fir.fw));
  // The zero-inserted coordinates o * down - pad + tap stay well inside int.
  for (int64_t v : {in.H * fir.up, in.W * fir.up, OH * fir.down, OW * fir.down, fir.px0, fir.py0, fir.fh * fir.fw})
    if (!fits_int(v))
      throw std::invalid_argument("upfirdn2d: sizes, padding or filter too large for the kernel's int indices");
  const FirGeometry g{reinterpret_cast<const float*>(fir.taps), static_cast<int>(fir.fh), static_cast<int>(fir.fw),
                      static_cast<int>(fir.up), static_cast<int>(fir.down), static_cast<int>(fir.px0),
                      static_cast<int>(fir.py0), static_cast<int>(in.H), static_cast<int>(in.W)};
  const int64_t tiles = ceil_div(walk.count, kTile);
  DeviceGuard device(launch.device);
  with_dtype(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    const T* src = reinterpret_cast<const T*>(x);
    T* dst = reinterpret_cast<T*>(y);
    const bool square4 = fir.fh == 4 && fir.fw == 4;
    if (fir.up == 2 && square4)
      launch_images(upfirdn2d_up2_kernel<T>, "upfirdn2d_up2_kernel", tiles, in.N, launch, src, xs, g, dst, ys, in.N,
                    walk);
    else if (fir.up == 1 && square4)
      launch_images(upfirdn2d_4x4_kernel<T>, "upfirdn2d_4x4_kernel", tiles, in.N, launch, src, xs, g, dst, ys, in.N,
                    walk);
    else if (fir.up == 1 && fir.fh == 3 && fir.fw == 3)
      launch_images(upfirdn2d_3x3_kernel<T>, "upfirdn2d_3x3_kernel", tiles, in.N, launch, src, xs, g, dst, ys, in.N,
                    walk);
    else
      launch_images(upfirdn2d_kernel<T>, "upfirdn2d_kernel", tiles, in.N, launch, src, xs, g, dst, ys, in.N, walk);
  });
}

}  // namespace cuda
}  // namespace stylegan_fast
