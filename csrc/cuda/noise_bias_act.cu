// The elementwise passes around torch's convolutions (one read, one write of each element):
//
//     scale_planes_kernel       y = x * s[n, c]                                      (prologue)
//     noise_bias_act_kernel     y = bias_act((x + noise * strength) + bias[c])      (op noise_bias_act)
//     styled_epilogue_kernel    y = bias_act((y * d[n, c] + noise * strength) + bias[c]), in place
//
// The per-element math is csrc/noise_bias_act.h's, which the CPU kernels use too.
#include "cuda/common.cuh"
#include "noise_bias_act.h"

namespace stylegan_fast {
namespace cuda {

namespace {

struct Scale {
  const float* scale;  // [N, C]
  int C;

  __device__ __forceinline__ float operator()(float v, int64_t n, const Pixel& q) const {
    return v * scale[n * C + q.c];
  }
};

template <class T, bool kNoise>
struct Epilogue {
  static constexpr bool kWithNoise = kNoise;
  const float* d;     // [N, C] or null (noise_bias_act)
  const float* bias;  // [C] or null
  const T* noise;     // [N or 1, 1, H, W], with kNoise
  Strides4 noise_strides;
  const float* strength;  // [C] or [1]
  int64_t strength_stride;
  BiasAct act;
  int C;

  __device__ __forceinline__ float operator()(float v, int64_t n, const Pixel& q) const {
    if (d) v *= d[n * C + q.c];
    const float b = bias ? bias[q.c] : 0.0f;
    if constexpr (kNoise) {
      const float z = to_float(noise[offset(noise_strides, n, 0, q.h, q.w)]);
      return noise_bias_act_element(v, z, strength[q.c * strength_stride], b, act);
    }
    return bias_act(v + b, act);
  }
};

template <class T>
__global__ void __launch_bounds__(kThreads)
    scale_planes_kernel(const T* x, Strides4 xs, T* y, Strides4 ys, int64_t N, Walk walk, Scale op) {
  elementwise(x, xs, y, ys, N, walk, op);
}

template <class T, bool kNoise>
__global__ void __launch_bounds__(kThreads)
    noise_bias_act_kernel(const T* x, Strides4 xs, T* y, Strides4 ys, int64_t N, Walk walk, Epilogue<T, kNoise> op) {
  elementwise(x, xs, y, ys, N, walk, op);
}

template <class T, bool kNoise>
__global__ void __launch_bounds__(kThreads)
    styled_epilogue_kernel(T* y, Strides4 ys, int64_t N, Walk walk, Epilogue<T, kNoise> op) {
  elementwise(y, ys, y, ys, N, walk, op);
}

template <class T, bool kNoise>
Epilogue<T, kNoise> epilogue(uintptr_t d, uintptr_t bias, const NoiseInput& noise, const BiasAct& act, int64_t C) {
  return Epilogue<T, kNoise>{reinterpret_cast<const float*>(d), reinterpret_cast<const float*>(bias),
                             reinterpret_cast<const T*>(noise.data), noise.strides,
                             reinterpret_cast<const float*>(noise.strength), noise.strength_stride, act,
                             static_cast<int>(C)};
}

// The epilogue kernels with and without noise: y = epilogue(x) (in place when styled).
void launch_epilogue(DType dtype, const Shape4& shape, uintptr_t x, const Strides4& xs, uintptr_t d, uintptr_t bias,
                     const NoiseInput& noise, const BiasAct& act, uintptr_t y, const Strides4& ys,
                     const Launch& launch, bool styled) {
  const char* name = styled ? "styled_epilogue_kernel" : "noise_bias_act_kernel";
  const Walk walk = make_walk(shape, ys, name);
  const int64_t tiles = ceil_div(walk.count, kTile);
  DeviceGuard device(launch.device);
  with_dtype(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    T* out = reinterpret_cast<T*>(y);
    auto run = [&](auto op) {
      if (styled)
        launch_images(styled_epilogue_kernel<T, decltype(op)::kWithNoise>, name, tiles, shape.N, launch, out, ys,
                      shape.N, walk, op);
      else
        launch_images(noise_bias_act_kernel<T, decltype(op)::kWithNoise>, name, tiles, shape.N, launch,
                      reinterpret_cast<const T*>(x), xs, out, ys, shape.N, walk, op);
    };
    if (noise.data)
      run(epilogue<T, true>(d, bias, noise, act, shape.C));
    else
      run(epilogue<T, false>(d, bias, noise, act, shape.C));
  });
}

}  // namespace

void scale_planes(DType dtype, Shape4 shape, uintptr_t x, Strides4 xs, uintptr_t scale, uintptr_t y, Strides4 ys,
                  Launch launch) {
  const Walk walk = make_walk(shape, ys, "scale_planes_kernel");
  DeviceGuard device(launch.device);
  with_dtype(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    launch_images(scale_planes_kernel<T>, "scale_planes_kernel", ceil_div(walk.count, kTile), shape.N, launch,
                  reinterpret_cast<const T*>(x), xs, reinterpret_cast<T*>(y), ys, shape.N, walk,
                  Scale{reinterpret_cast<const float*>(scale), static_cast<int>(shape.C)});
  });
}

void noise_bias_act(DType dtype, Shape4 shape, uintptr_t x, Strides4 xs, uintptr_t bias, NoiseInput noise,
                    BiasAct act, uintptr_t y, Strides4 ys, Launch launch) {
  launch_epilogue(dtype, shape, x, xs, 0, bias, noise, act, y, ys, launch, false);
}

void styled_epilogue(DType dtype, Shape4 shape, uintptr_t y, Strides4 ys, uintptr_t d, uintptr_t bias,
                     NoiseInput noise, BiasAct act, Launch launch) {
  launch_epilogue(dtype, shape, y, ys, d, bias, noise, act, y, ys, launch, true);
}

}  // namespace cuda
}  // namespace stylegan_fast
