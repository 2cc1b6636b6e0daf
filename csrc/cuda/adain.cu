// adain: per-plane statistics in one pass over x, then the apply pass (csrc/adain.h, shared with the CPU):
//
//     adain_stats_kernel      Moments of x - center per (plane, chunk of kChunk pixels), center = the
//                             plane's first element: Welford per thread, the block's threads merged in a
//                             fixed tree
//     adain_finalize_kernel   per plane: its chunks merged in order -> center, mean, rsqrt(var + eps)
//     adain_apply_kernel      y = (((x - center) - mean) * rstd) * scale[n, c] + shift[n, c]
//
// Deterministic: the chunks, each thread's pixels and every merge order are fixed by the shape and
// layout (no atomics), so results do not depend on the GPU or on the other images of the batch.
// A stats block covers kLanes channels x kThreads / kLanes pixel lanes: kLanes = 32 channels for a
// channels_last x (a warp reads 32 consecutive channels of a pixel), 1 for NCHW (the block reads
// consecutive pixels of one plane).
#include "adain.h"
#include "cuda/common.cuh"

namespace stylegan_fast {
namespace cuda {

namespace {

constexpr int kChunk = 4096;           // pixels of one partial
constexpr int64_t kMaxPlane = 1 << 24;  // pixels a plane may have (Moments counts are exact floats)

struct PlaneStats {
  float center, mean, rstd;  // mean: of x - center
};

struct StatsGeometry {
  int C, W, HW, chunks, lanes;  // lanes: channels per block (1 or 32)
  bool hw_dense;                // x's pixel p of a plane is at p * xs.w
};

template <class T>
__global__ void __launch_bounds__(kThreads)
    adain_stats_kernel(const T* x, Strides4 xs, int64_t N, StatsGeometry g, Moments* partials) {
  __shared__ Moments merged[kThreads];
  const int lane = static_cast<int>(threadIdx.x) % g.lanes, row = static_cast<int>(threadIdx.x) / g.lanes;
  const int rows = kThreads / g.lanes;
  const int chunk = static_cast<int>(blockIdx.x) % g.chunks;
  const int c = static_cast<int>(blockIdx.x) / g.chunks * g.lanes + lane;
  const int begin = chunk * kChunk, end = min(g.HW, begin + kChunk);
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
    Moments m{};
    if (c < g.C) {
      const T* plane = x + offset(xs, n, c, 0, 0);
      const float center = to_float(plane[0]);
      for (int p = begin + row; p < end; p += rows) {
        const int64_t at = g.hw_dense ? p * xs.w : (p / g.W) * xs.h + (p % g.W) * xs.w;
        moments_add(m, to_float(plane[at]) - center);
      }
    }
    merged[threadIdx.x] = m;
    __syncthreads();
    for (int half = rows / 2; half > 0; half /= 2) {
      if (row < half) merged[threadIdx.x] = moments_merge(merged[threadIdx.x], merged[threadIdx.x + half * g.lanes]);
      __syncthreads();
    }
    if (row == 0 && c < g.C) partials[(n * g.C + c) * g.chunks + chunk] = merged[lane];
    __syncthreads();  // before the next image overwrites merged
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    adain_finalize_kernel(const T* x, Strides4 xs, int C, const Moments* partials, int64_t planes, int chunks,
                          float eps, PlaneStats* stats) {
  const int64_t plane = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (plane >= planes) return;
  Moments m = partials[plane * chunks];
  for (int k = 1; k < chunks; ++k) m = moments_merge(m, partials[plane * chunks + k]);
  const float center = to_float(x[offset(xs, plane / C, static_cast<int>(plane % C), 0, 0)]);
  stats[plane] = PlaneStats{center, m.mean, adain_rstd(m.m2 / m.count, eps)};
}

struct Apply {
  const PlaneStats* stats;  // [N, C]
  const float* scale;   // [N, C]
  const float* shift;   // [N, C]
  int C;

  __device__ __forceinline__ float operator()(float v, int64_t n, const Pixel& q) const {
    const int64_t plane = n * C + q.c;
    const PlaneStats& s = stats[plane];
    return adain_apply(v, s.center, s.mean, s.rstd, scale[plane], shift[plane]);
  }
};

template <class T>
__global__ void __launch_bounds__(kThreads)
    adain_apply_kernel(const T* x, Strides4 xs, T* y, Strides4 ys, int64_t N, Walk walk, Apply op) {
  elementwise(x, xs, y, ys, N, walk, op);
}

StatsGeometry stats_geometry(const Shape4& shape, const Strides4& xs) {
  const bool channels_inner = xs.c < xs.w;
  const int HW = static_cast<int>(shape.H * shape.W);
  return StatsGeometry{static_cast<int>(shape.C), static_cast<int>(shape.W), HW,
                       static_cast<int>(ceil_div(HW, kChunk)), channels_inner ? 32 : 1, xs.h == shape.W * xs.w};
}

}  // namespace

int64_t adain_workspace_floats(Shape4 shape) {
  const int64_t planes = shape.N * shape.C, chunks = ceil_div(shape.H * shape.W, kChunk);
  return planes * 3 + planes * chunks * 3;  // PlaneStats per plane, then the partial Moments
}

void adain(DType dtype, Shape4 shape, uintptr_t x, Strides4 xs, uintptr_t scale, uintptr_t shift, float eps,
           uintptr_t workspace, uintptr_t y, Strides4 ys, Launch launch) {
  const Walk walk = make_walk(shape, ys, "adain_apply_kernel");
  if (shape.H * shape.W < 1 || shape.H * shape.W > kMaxPlane)
    throw std::invalid_argument("adain: planes of 1 to 2^24 pixels, got " + std::to_string(shape.H) + " x " +
                                std::to_string(shape.W));
  const StatsGeometry g = stats_geometry(shape, xs);
  const int64_t planes = shape.N * shape.C;
  static_assert(sizeof(Moments) == 3 * sizeof(float) && sizeof(PlaneStats) == 3 * sizeof(float),
                "the workspace holds PlaneStats and Moments as three floats each");
  PlaneStats* stats = reinterpret_cast<PlaneStats*>(workspace);
  Moments* partials = reinterpret_cast<Moments*>(reinterpret_cast<float*>(workspace) + planes * 3);
  DeviceGuard device(launch.device);
  with_dtype(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    const T* src = reinterpret_cast<const T*>(x);
    launch_images(adain_stats_kernel<T>, "adain_stats_kernel", ceil_div(shape.C, g.lanes) * g.chunks, shape.N,
                  launch, src, xs, shape.N, g, partials);
    launch_images(adain_finalize_kernel<T>, "adain_finalize_kernel", ceil_div(planes, kThreads), 1, launch, src, xs,
                  g.C, partials, planes, g.chunks, eps, stats);
    launch_images(adain_apply_kernel<T>, "adain_apply_kernel", ceil_div(walk.count, kTile), shape.N, launch, src, xs,
                  reinterpret_cast<T*>(y), ys, shape.N, walk,
                  Apply{stats, reinterpret_cast<const float*>(scale), reinterpret_cast<const float*>(shift),
                        static_cast<int>(shape.C)});
  });
}

}  // namespace cuda
}  // namespace stylegan_fast
