// upfirdn2d on the CPU: zero-insertion upsampling, padding, FIR filter and downsampling of each
// plane, without materializing the upsampled or padded image, and multiplying no inserted zero.
//
//     y[oy, ox] = sum_ij taps[i, j] * u[oy * down_y + i - py0, ox * down_x + j - px0]
//     u[sy, sx] = x[sy / up_y, sx / up_x] where both divide exactly (and in range), else 0
//
// (taps: the correlation taps, i.e. f flipped unless flip_filter, times the gain; the caller
// makes them). A separable filter taps_y[i] * taps_x[j] runs as the reference's two passes: the
// horizontal pass rounds each input row's result to float32, then the vertical pass sums them.
//
// Rows: output row oy meets, through filter row i, input row a = sy / up_y or a zero row.
// Columns, polyphase: with P = up_x / g and E = down_x / g (g = gcd), output column ox = P m + r
// meets, through the taps j of phase r that hit an input sample, input column b = E m + c(r, j).
// So each (input row, phase, tap) adds t * row[E m + c] to the outputs m = 0, 1, ... of phase r:
// a contiguous loop once the zero-padded input row is stored split into its E phases. A thread
// keeps the input rows (separable: their horizontal results) of its current output rows.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "upfirdn2d.h"

namespace py = pybind11;

namespace stylegan_fast {
namespace cpu {

namespace {

constexpr int64_t kWorkPerThread = 1 << 18;  // multiply-adds below which one more thread does not pay

struct Upfirdn2d {
  const float* x;       // [planes, H, W]
  const float* taps;    // [fh, fw], or the horizontal taps [fw] of a separable filter
  const float* taps_y;  // the vertical taps [fh] of a separable filter, else null
  float* y;             // [planes, OH, OW]
  int64_t planes, H, W, OH, OW;
  int64_t fh, fw, up_x, up_y, down_x, down_y, px0, py0;
};

struct Tap {
  int64_t j;       // filter column
  int64_t offset;  // of input column c(r, j) in the row buffer
};

// The column plan, the same for every row and plane.
struct Columns {
  int64_t phases = 1, stride = 1;        // P, E
  int64_t lo = 0, phase_len = 0;         // row buffer: columns [lo, ...) of x, split into E phases of phase_len
  std::vector<int64_t> outputs;          // [P]: outputs of phase r (columns P m + r < OW)
  std::vector<std::vector<Tap>> taps;    // [P]: the taps of phase r that meet input samples

  explicit Columns(const Upfirdn2d& a) {
    const int64_t g = std::gcd(a.up_x, a.down_x);
    phases = a.up_x / g;
    stride = a.down_x / g;
    outputs.resize(phases);
    taps.resize(phases);
    int64_t hi = lo = 0;
    bool any = false;
    std::vector<std::vector<int64_t>> columns(phases);  // c(r, j) for taps[r]
    for (int64_t r = 0; r < phases; ++r) {
      outputs[r] = r < a.OW ? (a.OW - r + phases - 1) / phases : 0;
      if (outputs[r] == 0) continue;
      for (int64_t j = 0; j < a.fw; ++j) {
        const int64_t q = r * a.down_x - a.px0 + j;  // upsampled column of tap j at m = 0
        if (floor_mod(q, a.up_x) != 0) continue;
        const int64_t c = floor_div(q, a.up_x);
        lo = any ? std::min(lo, c) : c;
        hi = any ? std::max(hi, stride * (outputs[r] - 1) + c + 1) : stride * (outputs[r] - 1) + c + 1;
        any = true;
        taps[r].push_back({j, 0});
        columns[r].push_back(c);
      }
    }
    phase_len = (hi - lo + stride - 1) / stride;
    for (int64_t r = 0; r < phases; ++r)
      for (size_t k = 0; k < taps[r].size(); ++k) {
        const int64_t c = columns[r][k] - lo;
        taps[r][k].offset = (c % stride) * phase_len + c / stride;
      }
  }

  int64_t row_len() const { return stride * phase_len; }

  // The row buffer of input row x_row [W]: phase e holds columns lo + e, lo + e + E, ... (zero outside x).
  void fill(const float* __restrict x_row, int64_t W, float* __restrict row) const {
    for (int64_t e = 0; e < stride; ++e) {
      float* __restrict dst = row + e * phase_len;
      const int64_t start = lo + e;  // x column of dst[0]; dst[t] is column start + t * stride
      const int64_t begin = std::clamp<int64_t>(floor_div(-start + stride - 1, stride), 0, phase_len);
      const int64_t end = std::clamp<int64_t>(floor_div(W - start + stride - 1, stride), begin, phase_len);
      std::fill(dst, dst + begin, 0.0f);
      if (stride == 1) {
        std::copy(x_row + start + begin, x_row + start + end, dst + begin);
      } else {
        for (int64_t t = begin; t < end; ++t) dst[t] = x_row[start + t * stride];
      }
      std::fill(dst + end, dst + phase_len, 0.0f);
    }
  }
};

// acc[m] = v or (not first) acc[m] + v, v = sum_g t[g] * src[g][m] for m < n, g < G: one pass over acc.
template <int G>
void add_taps(float* __restrict acc, const float* const* src, const float* t, int64_t n, bool first) {
  const float* s[G];
  float w[G];
  for (int g = 0; g < G; ++g) {
    s[g] = src[g];
    w[g] = t[g];
  }
  for (int64_t m = 0; m < n; ++m) {
    float v = w[0] * s[0][m];
    for (int g = 1; g < G; ++g) v += w[g] * s[g][m];
    acc[m] = first ? v : acc[m] + v;
  }
}

// acc[m] = sum_k t[k] * src[k][m] for m < n, k < taps: four taps per pass.
void multiply_add(float* __restrict acc, const float* const* src, const float* t, int64_t taps, int64_t n) {
  if (taps == 0) std::fill(acc, acc + n, 0.0f);
  for (int64_t k = 0; k < taps; k += 4) {
    switch (std::min<int64_t>(4, taps - k)) {
      case 4:
        add_taps<4>(acc, src + k, t + k, n, k == 0);
        break;
      case 3:
        add_taps<3>(acc, src + k, t + k, n, k == 0);
        break;
      case 2:
        add_taps<2>(acc, src + k, t + k, n, k == 0);
        break;
      default:
        add_taps<1>(acc, src + k, t + k, n, k == 0);
    }
  }
}

// out[P m + r] = acc[r, m] for the outputs[r] outputs of each phase r ([P, acc_len]).
void interleave(const float* __restrict acc, int64_t acc_len, const std::vector<int64_t>& outputs,
                float* __restrict out) {
  const int64_t phases = static_cast<int64_t>(outputs.size());
  if (phases == 2) {  // up = 2: a vectorizable loop (outputs[0] is outputs[1] or one more)
    const float* __restrict even = acc;
    const float* __restrict odd = acc + acc_len;
    for (int64_t m = 0; m < outputs[1]; ++m) {
      out[2 * m] = even[m];
      out[2 * m + 1] = odd[m];
    }
    if (outputs[0] > outputs[1]) out[2 * outputs[1]] = even[outputs[1]];
    return;
  }
  for (int64_t r = 0; r < phases; ++r)
    for (int64_t m = 0; m < outputs[r]; ++m) out[m * phases + r] = acc[r * acc_len + m];
}

// Work space of one thread.
struct Scratch {
  std::vector<float> row_cache;    // [slots, cached_len]: the input rows of the current output rows
  std::vector<int64_t> cached;     // [slots]: which input row each slot holds (-1: none)
  std::vector<float> padded;       // [row_len]: separable: the input row before the horizontal pass
  std::vector<float> phase_acc;    // [P, outputs of phase 0] when P > 1
  std::vector<const float*> src;   // [fh * fw]: the (row, tap) sources of one output row (one phase)
  std::vector<float> tap;          // [fh * fw]: and their taps
};

// out[ox] = sum_k sum_j tap_rows[k][j] * (input row k)[column of ox and j], over the taps j that
// meet input samples; rows[k]: row buffers (Columns::fill).
void filter_columns(const Columns& cols, const float* const* rows, const float* const* tap_rows, int64_t count,
                    float* out, Scratch& w) {
  const int64_t acc_len = cols.outputs[0];
  for (int64_t r = 0; r < cols.phases; ++r) {
    const float** src = w.src.data();
    float* tap = w.tap.data();
    int64_t n = 0;
    for (int64_t k = 0; k < count; ++k)
      for (const Tap& t : cols.taps[r]) {
        src[n] = rows[k] + t.offset;
        tap[n++] = tap_rows[k][t.j];
      }
    float* acc = cols.phases == 1 ? out : w.phase_acc.data() + r * acc_len;
    multiply_add(acc, src, tap, n, cols.outputs[r]);
  }
  if (cols.phases > 1) interleave(w.phase_acc.data(), acc_len, cols.outputs, out);
}

// Output rows [row_begin, row_end) of one plane.
void rows(const Upfirdn2d& a, const Columns& cols, int64_t plane, int64_t row_begin, int64_t row_end, Scratch& w) {
  const float* x = a.x + plane * a.H * a.W;
  const bool separable = a.taps_y != nullptr;
  const int64_t cached_len = separable ? a.OW : cols.row_len(), slots = static_cast<int64_t>(w.cached.size());
  std::fill(w.cached.begin(), w.cached.end(), -1);
  std::vector<const float*> in_rows, tap_rows;  // the input rows output row oy meets, their filter rows
  in_rows.reserve(a.fh);
  tap_rows.reserve(a.fh);
  for (int64_t oy = row_begin; oy < row_end; ++oy) {
    in_rows.clear();
    tap_rows.clear();
    const PolyphaseStart<int64_t> start = polyphase_start(oy * a.down_y - a.py0, a.up_y);
    int64_t in_row = start.index;
    for (int64_t i = start.tap; i < a.fh; i += a.up_y, ++in_row) {  // the filter rows meeting input rows
      if (in_row < 0 || in_row >= a.H) continue;
      const int64_t slot = in_row & (slots - 1);  // no two rows of one oy share a slot
      float* row = w.row_cache.data() + slot * cached_len;
      if (w.cached[slot] != in_row) {
        if (separable) {
          const float* padded = w.padded.data();
          cols.fill(x + in_row * a.W, a.W, w.padded.data());
          filter_columns(cols, &padded, &a.taps, 1, row, w);
        } else {
          cols.fill(x + in_row * a.W, a.W, row);
        }
        w.cached[slot] = in_row;
      }
      in_rows.push_back(row);
      tap_rows.push_back(separable ? a.taps_y + i : a.taps + i * a.fw);
    }
    float* y = a.y + (plane * a.OH + oy) * a.OW;
    const int64_t count = static_cast<int64_t>(in_rows.size());
    if (separable) {  // the vertical pass
      for (int64_t k = 0; k < count; ++k) w.tap[k] = *tap_rows[k];
      multiply_add(y, in_rows.data(), w.tap.data(), count, a.OW);
    } else {
      filter_columns(cols, in_rows.data(), tap_rows.data(), count, y, w);
    }
  }
}

void upfirdn2d(const Upfirdn2d& a, int threads) {
  const Columns cols(a);
  int64_t slots = 1;  // a power of two, at least the input rows one output row meets
  while (slots < (a.fh + a.up_y - 1) / a.up_y) slots *= 2;
  const int64_t taps = a.taps_y ? a.fh + a.fw : a.fh * a.fw;
  const int64_t work = a.planes * a.OH * a.OW * std::max<int64_t>(1, taps / (a.up_x * a.up_y));
  threads = static_cast<int>(std::clamp<int64_t>(work / kWorkPerThread, 1, std::max(threads, 1)));
  // Items: bands of output rows (a band rebuilds its first input rows); enough for the threads.
  const int64_t bands = std::clamp<int64_t>((4 * threads + a.planes - 1) / a.planes, 1, a.OH);
  const int64_t band_rows = (a.OH + bands - 1) / bands;
  parallel_for(a.planes * bands, threads, [&](int64_t begin, int64_t end) {
    Scratch w;
    w.row_cache.resize(slots * (a.taps_y ? a.OW : cols.row_len()));
    w.cached.resize(slots);
    w.padded.resize(a.taps_y ? cols.row_len() : 0);
    w.phase_acc.resize(cols.phases > 1 ? cols.phases * cols.outputs[0] : 0);
    w.src.resize(a.fh * a.fw);
    w.tap.resize(a.fh * a.fw);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t plane = item / bands, band = item % bands;
      const int64_t row_begin = band * band_rows, row_end = std::min(a.OH, row_begin + band_rows);
      if (row_begin < row_end) rows(a, cols, plane, row_begin, row_end, w);
    }
  });
}

}  // namespace

void bind_upfirdn2d(py::module_& m) {
  m.def(
      "upfirdn2d",
      [](uintptr_t x, uintptr_t taps, uintptr_t taps_y, uintptr_t y, int64_t planes, int64_t H, int64_t W,
         int64_t OH, int64_t OW, int64_t fh, int64_t fw, int64_t up_x, int64_t up_y, int64_t down_x, int64_t down_y,
         int64_t px0, int64_t py0, int threads) {
        Upfirdn2d args{pointer<const float>(x), pointer<const float>(taps), pointer<const float>(taps_y),
                       pointer<float>(y), planes, H, W, OH, OW, fh, fw, up_x, up_y, down_x, down_y, px0, py0};
        py::gil_scoped_release nogil;
        upfirdn2d(args, threads);
      },
      "y [planes, OH, OW] = x [planes, H, W] float32 upsampled by (up_x, up_y) with zeros, padded by (px0, py0) "
      "before (the rest by OH, OW), correlated with taps [fh, fw] (or taps_y [fh] x taps [fw], two passes) and "
      "downsampled by (down_x, down_y).");
}

}  // namespace cpu
}  // namespace stylegan_fast
