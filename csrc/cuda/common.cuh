// What the CUDA kernels share: dtype conversion, the walk of the elementwise kernels over an image,
// grids, device selection and launch checks. Included by the csrc/cuda/*.cu files only.
//
// Grids: blockIdx.x tiles one image (at most 2^31 - 1 blocks), blockIdx.y walks the batch with a
// stride of gridDim.y (at most 65535), so any batch size launches. Offsets into tensors are int64
// (a batch may exceed 2^31 elements); indices inside one image are int (an image must have fewer
// than 2^31 - kTile elements: the launchers check).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda/kernels.h"

namespace stylegan_fast {
namespace cuda {

constexpr int kThreads = 256;                // threads per block of every kernel
constexpr int kItems = 4;                    // elements per thread of the elementwise kernels
constexpr int kTile = kThreads * kItems;     // elements per block of the elementwise kernels
constexpr int64_t kMaxGridX = INT_MAX;
constexpr int64_t kMaxGridY = 65535;

// ---------------------------------------------------------------- dtypes
template <class T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <class T>
struct Type {
  using type = T;
};

// fn(Type<T>{}) for the element type of `dtype`.
template <class Fn>
void with_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: fn(Type<float>{}); return;
    case DType::kFloat16: fn(Type<__half>{}); return;
    case DType::kBFloat16: fn(Type<__nv_bfloat16>{}); return;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(static_cast<int>(dtype)) +
                              " (0 float32, 1 float16, 2 bfloat16)");
}

// ---------------------------------------------------------------- indexing
struct Pixel {
  int c, h, w;
};

__device__ __forceinline__ int64_t offset(const Strides4& s, int64_t n, int c, int h, int w) {
  return n * s.n + c * s.c + h * s.h + w * s.w;
}
__device__ __forceinline__ int64_t offset(const Strides4& s, int64_t n, const Pixel& q) {
  return offset(s, n, q.c, q.h, q.w);
}

// The order in which the threads of an elementwise kernel visit the C * H * W elements of an image:
// channels innermost for a channels_last output, pixels innermost for NCHW, so consecutive threads
// touch consecutive addresses (channels_last: the per-channel parameters are then coalesced too,
// NCHW: broadcast).
struct Walk {
  int count;  // C * H * W
  unsigned inner;  // C (channels innermost) or H * W
  unsigned W;
  bool channels_inner;

  __device__ __forceinline__ Pixel at(int e) const {
    const unsigned outer = static_cast<unsigned>(e) / inner, in = static_cast<unsigned>(e) - outer * inner;
    const unsigned c = channels_inner ? in : outer, p = channels_inner ? outer : in;
    const unsigned h = p / W;
    return Pixel{static_cast<int>(c), static_cast<int>(h), static_cast<int>(p - h * W)};
  }
};

// An image of `shape` (per sample) as int indices; throws when it is too large for them.
inline int image_elements(const Shape4& shape, const char* what) {
  const int64_t count = shape.C * shape.H * shape.W;
  if (shape.N < 0 || shape.C < 0 || shape.H < 0 || shape.W < 0 || count > INT_MAX - kTile)
    throw std::invalid_argument(std::string(what) + ": an image of " + std::to_string(shape.C) + " x " +
                                std::to_string(shape.H) + " x " + std::to_string(shape.W) +
                                " elements is more than the kernels index (2^31 - " + std::to_string(kTile) + ")");
  return static_cast<int>(count);
}

// The walk over an image of `shape` in the layout of `order` (the output's strides).
inline Walk make_walk(const Shape4& shape, const Strides4& order, const char* what) {
  const int count = image_elements(shape, what);
  const bool channels_inner = order.c < order.w;
  return Walk{count, static_cast<unsigned>(channels_inner ? shape.C : shape.H * shape.W),
              static_cast<unsigned>(shape.W), channels_inner};
}

// Runs y[n, q] = op(x[n, q], n, q) over the images' elements in walk order: thread t of block b
// handles elements b * kTile + k * kThreads + t (k < kItems), coalesced along the walk's innermost
// dimension. The loads all come before the stores, so y may be x.
template <class T, class Op>
__device__ __forceinline__ void elementwise(const T* x, const Strides4& xs, T* y, const Strides4& ys, int64_t N,
                                            const Walk& walk, const Op& op) {
  const int first = static_cast<int>(blockIdx.x) * kTile + static_cast<int>(threadIdx.x);
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
    Pixel q[kItems];
    float v[kItems];
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int e = first + k * kThreads;
      q[k] = Pixel{0, 0, 0};
      v[k] = 0.0f;
      if (e < walk.count) {
        q[k] = walk.at(e);
        v[k] = to_float(x[offset(xs, n, q[k])]);
      }
    }
#pragma unroll
    for (int k = 0; k < kItems; ++k)
      if (first + k * kThreads < walk.count) y[offset(ys, n, q[k])] = from_float<T>(op(v[k], n, q[k]));
  }
}

// ---------------------------------------------------------------- host side
inline std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

// Throws a RuntimeError (in Python) naming the kernel when its launch failed.
inline void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error launching ") + kernel + ": " + describe(err));
}

// Makes `device` current for the launches of one call (this module's CUDA runtime keeps its own
// current device, which torch.cuda.set_device does not change), and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ == device) return;
    const cudaError_t err = cudaSetDevice(device);
    if (err != cudaSuccess)
      throw std::runtime_error("cudaSetDevice(" + std::to_string(device) + ") failed: " + describe(err));
    restore_ = previous_ >= 0;
  }
  ~DeviceGuard() {
    if (restore_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  bool restore_ = false;
};

inline cudaStream_t stream_of(const Launch& launch) { return reinterpret_cast<cudaStream_t>(launch.stream); }

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grid of `tiles` blocks per image (x) and the batch (y, strided in the kernel).
inline dim3 image_grid(int64_t tiles, int64_t N, const char* kernel) {
  if (tiles > kMaxGridX)
    throw std::invalid_argument(std::string(kernel) + ": " + std::to_string(tiles) + " blocks per image exceed " +
                                "the grid's limit of 2^31 - 1");
  return dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(N < kMaxGridY ? N : kMaxGridY), 1);
}

// Launches `kernel` with `tiles` blocks per image of the N images, on the caller's stream, and checks it.
template <class... Params, class... Args>
void launch_images(void (*kernel)(Params...), const char* name, int64_t tiles, int64_t N, const Launch& launch,
                   Args&&... args) {
  if (tiles <= 0 || N <= 0) return;
  kernel<<<image_grid(tiles, N, name), kThreads, 0, stream_of(launch)>>>(std::forward<Args>(args)...);
  check_launch(name);
}

}  // namespace cuda
}  // namespace stylegan_fast
