// noise_stream: the per-pixel normal noise of ops/noise_stream/reference.py (Triton's tl.randn
// stream, csrc/noise_stream.h, shared with the CPU), one pixel per thread, cast to the output dtype.
#include "cuda/common.cuh"
#include "noise_stream.h"

namespace stylegan_fast {
namespace cuda {

namespace {

template <class T>
__global__ void __launch_bounds__(kThreads)
    noise_stream_kernel(const int64_t* seeds, T* y, int64_t N, int64_t P, uint32_t layer) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (p >= P) return;
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y)
    y[n * P + p] = from_float<T>(stream_normal(static_cast<uint32_t>(seeds[n]), layer, static_cast<uint32_t>(p)));
}

}  // namespace

void noise_stream(DType dtype, uintptr_t seeds, int64_t N, int64_t P, uint32_t layer, uintptr_t y, Launch launch) {
  if (P < 0 || P > (int64_t{1} << 32))
    throw std::invalid_argument("noise_stream_kernel: " + std::to_string(P) + " pixels per map; the counter has 2^32");
  DeviceGuard device(launch.device);
  with_dtype(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    launch_images(noise_stream_kernel<T>, "noise_stream_kernel", ceil_div(P, kThreads), N, launch,
                  reinterpret_cast<const int64_t*>(seeds), reinterpret_cast<T*>(y), N, P, layer);
  });
}

}  // namespace cuda
}  // namespace stylegan_fast
