// torgb_skip on the CPU: StyleGAN2's output branch in one pass over x, the image written once.
//
//     y[n, o, p] = clamp(sum_c w[n, o, c] * x[n, c, p] + bias[o])      (w: weight * styles, per sample)
//     img        = upsample2d(skip) + y                                (or y alone)
//
// A work item is a band of image rows of one sample: the rows are contiguous pixels, so the
// channel sum runs over them in one vectorizable loop, accumulating the few output channels in a
// small buffer. The epilogue adds bias, clamps and adds the skip image upsampled in place: output
// pixel (2b + py, 2c + px) is sum_ij taps[py][px][i][j] * skip[b - 1 + py + i, c - 1 + px + j]
// (the 4x4 FIR filter's taps of that phase, gain included, computed by the caller).
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "noise_bias_act.h"
#include "torgb_skip.h"

namespace py = pybind11;

namespace stylegan_fast {
namespace cpu {

namespace {

constexpr int64_t kBandPixels = 2048;  // pixels a work item accumulates: O x 8 KiB of accumulators
constexpr int64_t kChannelStep = 4;   // input channels summed per pass over the accumulators

struct TorgbSkip {
  const float* x;     // [N, C, H, W]
  const float* w;     // [N, O, C]
  const float* bias;  // [O] or null
  const float* skip;  // [N, O, H/2, W/2] or null
  const float* taps;  // [2, 2, 2, 2]: [py][px][i][j]
  float* y;           // [N, O, H, W]
  int64_t N, C, O, H, W;
  float clamp;  // < 0: none
};

// a_o[p] += sum_k w[o * C + k] * x[k * P + p] for p < len: kO <= 4 output channels (a0.. a3;
// the unused ones are not touched) and kK input channels, summed in k order.
template <int kO, int kK>
void accumulate_block(const float* x, int64_t P, const float* w, int64_t C, float* __restrict a0,
                      float* __restrict a1, float* __restrict a2, float* __restrict a3, int64_t len) {
  float wk[kO][kK];
  for (int o = 0; o < kO; ++o)
    for (int k = 0; k < kK; ++k) wk[o][k] = w[o * C + k];
  for (int64_t p = 0; p < len; ++p) {
    float v[kK];
    for (int k = 0; k < kK; ++k) v[k] = x[k * P + p];
    float s[kO];
    for (int o = 0; o < kO; ++o) {
      s[o] = wk[o][0] * v[0];
      for (int k = 1; k < kK; ++k) s[o] += wk[o][k] * v[k];
    }
    a0[p] += s[0];
    if constexpr (kO > 1) a1[p] += s[1];
    if constexpr (kO > 2) a2[p] += s[2];
    if constexpr (kO > 3) a3[p] += s[3];
  }
}

// acc[o * len + p] += sum_c w[o * C + c] * x[c * P + p] for the kO output channels, all C inputs.
template <int kO>
void accumulate_outputs(const float* x, int64_t P, const float* w, int64_t C, float* acc, int64_t len) {
  float* a[4];
  for (int o = 0; o < 4; ++o) a[o] = acc + std::min(o, kO - 1) * len;
  int64_t c = 0;
  for (; c + kChannelStep <= C; c += kChannelStep)
    accumulate_block<kO, kChannelStep>(x + c * P, P, w + c, C, a[0], a[1], a[2], a[3], len);
  for (; c < C; ++c) accumulate_block<kO, 1>(x + c * P, P, w + c, C, a[0], a[1], a[2], a[3], len);
}

// acc [O, len] += w [O, C] x [C, len (row stride P)], output channels four at a time.
void accumulate(const float* x, int64_t P, const float* w, int64_t C, float* acc, int64_t len, int64_t O) {
  for (int64_t o = 0; o < O; o += 4) {
    const float* wo = w + o * C;
    float* ao = acc + o * len;
    switch (std::min<int64_t>(4, O - o)) {
      case 1: accumulate_outputs<1>(x, P, wo, C, ao, len); break;
      case 2: accumulate_outputs<2>(x, P, wo, C, ao, len); break;
      case 3: accumulate_outputs<3>(x, P, wo, C, ao, len); break;
      default: accumulate_outputs<4>(x, P, wo, C, ao, len);
    }
  }
}

// up[2c + px] for one output row of phase py, from the two skip rows `rows` (zero-padded by one
// on each side: rows[i][k] = skip[r_i, k - 1]).
void upsample_row(const float* const rows[2], const float* taps_py, float* up, int64_t Ws) {
  for (int px = 0; px < 2; ++px) {
    const float* t = taps_py + px * 4;  // [i][j]
    const float* r0 = rows[0] + px;
    const float* r1 = rows[1] + px;
    for (int64_t c = 0; c < Ws; ++c)
      up[2 * c + px] = upsampled_skip(t, r0[c], r0[c + 1], r1[c], r1[c + 1]);
  }
}

void torgb_skip(const TorgbSkip& a, int threads) {
  const int64_t P = a.H * a.W;
  // Bands of up to kBandPixels, and at least `threads` of them in all where the rows allow; the
  // split does not change any pixel's arithmetic.
  int64_t band_rows = std::max<int64_t>(1, std::min(a.H, kBandPixels / std::max<int64_t>(a.W, 1)));
  const int64_t bands_wanted = (threads + a.N - 1) / std::max<int64_t>(a.N, 1);
  if ((a.H + band_rows - 1) / band_rows < bands_wanted)
    band_rows = std::max<int64_t>(1, (a.H + bands_wanted - 1) / bands_wanted);
  const int64_t bands = (a.H + band_rows - 1) / band_rows;
  const int64_t Hs = a.H / 2, Ws = a.W / 2;
  parallel_for(a.N * bands, threads, [&](int64_t begin, int64_t end) {
    const BiasAct epilogue{1.0f, 0.0f, a.clamp, false};  // local: no store can alias it
    std::vector<float> acc(a.O * band_rows * a.W);
    std::vector<float> up(a.W);
    std::vector<float> padded(2 * (Ws + 2), 0.0f);  // two skip rows, zero-padded
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / bands;
      const int64_t row0 = item % bands * band_rows;
      const int64_t row1 = std::min(a.H, row0 + band_rows);
      const int64_t len = (row1 - row0) * a.W;
      std::fill(acc.begin(), acc.begin() + a.O * len, 0.0f);
      const float* x = a.x + n * a.C * P + row0 * a.W;
      const float* w = a.w + n * a.O * a.C;
      accumulate(x, P, w, a.C, acc.data(), len, a.O);
      for (int64_t o = 0; o < a.O; ++o) {
        const float b = a.bias ? a.bias[o] : 0.0f;
        for (int64_t row = row0; row < row1; ++row) {
          const float* in = acc.data() + o * len + (row - row0) * a.W;
          float* out = a.y + ((n * a.O + o) * a.H + row) * a.W;
          if (!a.skip) {
            for (int64_t p = 0; p < a.W; ++p) out[p] = bias_act(in[p] + b, epilogue);
            continue;
          }
          const int64_t py = row % 2, b0 = row / 2 - 1 + py;  // skip rows b0, b0 + 1
          const float* plane = a.skip + (n * a.O + o) * Hs * Ws;
          const float* rows[2];
          for (int i = 0; i < 2; ++i) {
            float* dst = padded.data() + i * (Ws + 2);
            const int64_t r = b0 + i;
            if (r >= 0 && r < Hs)
              std::copy(plane + r * Ws, plane + (r + 1) * Ws, dst + 1);
            else
              std::fill(dst + 1, dst + 1 + Ws, 0.0f);
            rows[i] = dst;
          }
          upsample_row(rows, a.taps + py * 8, up.data(), Ws);
          for (int64_t p = 0; p < a.W; ++p) out[p] = up[p] + bias_act(in[p] + b, epilogue);
        }
      }
    }
  });
}

}  // namespace

void bind_torgb_skip(py::module_& m) {
  m.def(
      "torgb_skip",
      [](uintptr_t x, uintptr_t w, uintptr_t bias, uintptr_t skip, uintptr_t taps, uintptr_t y, int64_t N, int64_t C,
         int64_t O, int64_t H, int64_t W, float clamp, int threads) {
        TorgbSkip args{pointer<const float>(x), pointer<const float>(w), pointer<const float>(bias),
                       pointer<const float>(skip), pointer<const float>(taps), pointer<float>(y), N, C, O, H, W,
                       clamp};
        py::gil_scoped_release nogil;
        torgb_skip(args, threads);
      },
      "x [N, C, H, W], w [N, O, C] (weight * styles), bias [O] or 0, skip [N, O, H/2, W/2] or 0 with taps "
      "[2, 2, 2, 2] (phase py, px; skip row b - 1 + py + i, column c - 1 + px + j), clamp (< 0: none) "
      "-> y [N, O, H, W] = upsampled skip + clamp(w x + bias). H and W even when skip is given.");
}

}  // namespace cpu
}  // namespace stylegan_fast
