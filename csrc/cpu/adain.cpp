// adain on the CPU: instance normalization and a per-(n, c) affine, two passes over each plane
// (statistics, output; three for a plane whose mean dwarfs its spread).
//
//     y[n, c, p] = ((x[n, c, p] - mean) * rsqrt(var + eps)) * scale[n, c] + shift[n, c]
//
// mean and the biased variance come from sums in double, in a fixed order (lanes over the plane's
// elements, then the lanes pairwise), so they do not depend on the thread count; they are then
// rounded to float32, and the rest runs in float32 in the reference's order. Work item: a plane.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "adain.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"

namespace py = pybind11;

namespace stylegan_fast {
namespace cpu {

namespace {

constexpr int64_t kElementsPerThread = 1 << 16;  // below this, fewer threads (no gain from more)
constexpr int kLanes = 8;                        // independent double sums, for vectorization
constexpr double kCancellation = 1 << 17;        // E[x^2] / var above which E[x^2] - mean^2 is not used

struct Adain {
  const float* x;      // [planes, S]
  const float* scale;  // [planes]
  const float* shift;  // [planes]
  float* y;            // [planes, S]
  int64_t planes, S;
  float eps;
};

// Sums over x [n] of d and d * d, d = x - center (kCentered) or x, in double: kLanes lanes, then
// the lanes pairwise.
template <bool kCentered>
void sums(const float* __restrict x, int64_t n, double center, double& sum, double& sum_sq) {
  double s[kLanes] = {}, q[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      const double d = kCentered ? x[i + k] - center : x[i + k];
      s[k] += d;
      q[k] += d * d;
    }
  for (int k = 0; i + k < n; ++k) {
    const double d = kCentered ? x[i + k] - center : x[i + k];
    s[k] += d;
    q[k] += d * d;
  }
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int k = 0; k < width; ++k) {
      s[k] += s[k + width];
      q[k] += q[k + width];
    }
  sum = s[0];
  sum_sq = q[0];
}

// Mean and biased variance of x [n]: E[x^2] - mean^2 from one pass, or, where that cancels to
// fewer than ~36 of double's 53 bits (|mean| >> std, or a constant plane), a second pass centered
// at that mean.
void moments(const float* __restrict x, int64_t n, double& mean, double& var) {
  double sum, sum_sq;
  sums<false>(x, n, 0.0, sum, sum_sq);
  mean = sum / n;
  var = sum_sq / n - mean * mean;
  if (var * kCancellation < sum_sq / n) {
    sums<true>(x, n, mean, sum, sum_sq);
    const double offset = sum / n;  // what the first mean missed
    mean += offset;
    var = sum_sq / n - offset * offset;
  }
  var = std::max(0.0, var);
}

void plane(const Adain& a, int64_t p) {
  const float* __restrict x = a.x + p * a.S;
  float* __restrict y = a.y + p * a.S;
  double mean, var;
  moments(x, a.S, mean, var);
  const float m = static_cast<float>(mean), r = adain_rstd(static_cast<float>(var), a.eps);
  const float s = a.scale[p], b = a.shift[p];
  for (int64_t i = 0; i < a.S; ++i) y[i] = adain_apply(x[i], m, 0.0f, r, s, b);  // centered at the mean
}

void adain(const Adain& a, int threads) {
  threads = static_cast<int>(std::clamp<int64_t>(a.planes * a.S / kElementsPerThread, 1, std::max(threads, 1)));
  parallel_for(a.planes, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) plane(a, p);
  });
}

}  // namespace

void bind_adain(py::module_& m) {
  m.def(
      "adain",
      [](uintptr_t x, uintptr_t scale, uintptr_t shift, uintptr_t y, int64_t planes, int64_t S, float eps,
         int threads) {
        Adain args{pointer<const float>(x), pointer<const float>(scale), pointer<const float>(shift),
                   pointer<float>(y), planes, S, eps};
        py::gil_scoped_release nogil;
        adain(args, threads);
      },
      "y [planes, S] = ((x - mean) * rsqrt(var + eps)) * scale + shift per plane of x [planes, S] float32 (mean, "
      "biased var over S), scale and shift [planes].");
}

}  // namespace cpu
}  // namespace stylegan_fast
