// noise_stream on the CPU: the per-pixel normal noise of ops/noise_stream/reference.py (Triton's
// tl.randn stream), the math shared with CUDA in noise_stream.h.
//
// A work item is a block of pixels of one map: the Philox words and uniforms of the block first
// (an integer loop the compiler vectorizes), then Box-Muller with libm's logf / cosf.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>

#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "noise_stream.h"

namespace py = pybind11;

namespace stylegan_fast {
namespace cpu {

namespace {

constexpr int64_t kBlock = 4096;  // pixels a work item draws
constexpr int64_t kChunk = 256;   // pixels of uniforms held at once

// y[n, p] = stream_normal(seeds[n], layer, p) for the N maps of P pixels.
void noise_stream(const int64_t* seeds, float* y, int64_t N, int64_t P, uint32_t layer, int threads) {
  const int64_t blocks = (P + kBlock - 1) / kBlock;
  parallel_for(N * blocks, threads, [&](int64_t begin, int64_t end) {
    float u0[kChunk], u1[kChunk];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / blocks;
      const uint32_t seed = static_cast<uint32_t>(seeds[n]);
      const int64_t block_end = std::min(P, (item % blocks + 1) * kBlock);
      for (int64_t p0 = item % blocks * kBlock; p0 < block_end; p0 += kChunk) {
        const int64_t count = std::min(kChunk, block_end - p0);
        for (int64_t i = 0; i < count; ++i) {
          const PhiloxWords w = philox4x32(PhiloxWords{static_cast<uint32_t>(p0 + i), 0u, 0u, 0u}, seed, layer);
          u0[i] = uniform_from_word(w.w0);
          u1[i] = uniform_from_word(w.w1);
        }
        float* out = y + n * P + p0;
        for (int64_t i = 0; i < count; ++i) out[i] = normal_from_uniforms(u0[i], u1[i]);
      }
    }
  });
}

}  // namespace

void bind_noise_stream(py::module_& m) {
  m.def(
      "noise_stream",
      [](uintptr_t seeds, uintptr_t y, int64_t N, int64_t P, uint32_t layer, int threads) {
        py::gil_scoped_release nogil;
        noise_stream(pointer<const int64_t>(seeds), pointer<float>(y), N, P, layer, threads);
      },
      "seeds [N] int64 in [0, 2^32), layer -> y [N, P] float32: pixel p of map n is "
      "tl.randn(seeds[n] | layer << 32, p).");
  m.def(
      "noise_stream_philox",
      [](uintptr_t counters, uintptr_t keys, uintptr_t words, uintptr_t uniforms, uintptr_t normals, int64_t M,
         int rounds) {
        const int64_t* c = pointer<const int64_t>(counters);
        const int64_t* k = pointer<const int64_t>(keys);
        int64_t* w = pointer<int64_t>(words);
        float* u = pointer<float>(uniforms);
        float* z = pointer<float>(normals);
        py::gil_scoped_release nogil;
        for (int64_t i = 0; i < M; ++i) {
          const auto word = [&](int j) { return static_cast<uint32_t>(c[4 * i + j]); };
          const PhiloxWords out = philox4x32(PhiloxWords{word(0), word(1), word(2), word(3)},
                                             static_cast<uint32_t>(k[2 * i]), static_cast<uint32_t>(k[2 * i + 1]),
                                             rounds);
          const uint32_t ws[4] = {out.w0, out.w1, out.w2, out.w3};
          for (int j = 0; j < 4; ++j) w[4 * i + j] = ws[j];
          u[2 * i] = uniform_from_word(out.w0);
          u[2 * i + 1] = uniform_from_word(out.w1);
          z[i] = normal_from_uniforms(u[2 * i], u[2 * i + 1]);
        }
      },
      "The stream's math element by element, for tests: counters [M, 4], keys [M, 2] (int64 words) -> Philox "
      "words [M, 4] int64, their uniforms [M, 2] (w0, w1) and normals [M] float32.");
}

}  // namespace cpu
}  // namespace stylegan_fast
