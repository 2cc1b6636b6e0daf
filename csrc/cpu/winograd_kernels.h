// The Winograd F(4x4, 3x3) convolution's two data kernels, one variant per ISA (see isa.h):
//   winograd_input:  x [N, C, H, W] (times the style scale[n, c]) -> V [36, C, T]
//   winograd_output: M [36, P*O, T] -> y [N, O, H*up, W*up], with the layer's epilogue
// T counts the 4x4 tiles of the tile rows [row_begin, row_end) (tile row r = n * tiles_h + ty),
// each row holding tiles_w = ceil(W / 4) tiles; V and M are indexed [point][channel][t].
// Between them the caller multiplies M[p] = U[p] @ V[p] for the 36 points p (a batched GEMM).
// With up = 2 the convolution is the four sub-pixel phases (ay, ax) of a 2x upsampling one:
// M's row (2 * ay + ax) * O + o holds phase (ay, ax) of output channel o, written to
// y[n, o, 2 * Y + ay, 2 * X + ax].
#pragma once

#include <cstdint>

#include "noise_bias_act.h"

namespace stylegan_fast {
namespace cpu {

struct WinogradInput {
  const float* x;      // [N, C, H, W]
  const float* scale;  // [N, C] or nullptr
  float* v;            // [36, C, T]
  int64_t N, C, H, W;
  int64_t row_begin, row_end;
};

struct WinogradOutput {
  const float* m;  // [36, P * O, T], P = up * up
  float* y;        // [N, O, H * up, W * up]
  int64_t N, O, H, W;
  int up;
  int64_t row_begin, row_end;
  const float* demod;          // [N, O] or nullptr: y = m * demod[n, o] ...
  const float* noise;          // [N or 1, H * up, W * up] or nullptr: ... + noise * strength[o] ...
  int64_t noise_batch_stride;  // 0 when one noise map is shared by the batch
  const float* strength;       // [O], with noise
  const float* bias;           // [O] or nullptr: ... + bias[o], then bias_act
  BiasAct act;
};

#define SGF_DECLARE_WINOGRAD(isa)                                  \
  namespace isa {                                                  \
  void winograd_input(const WinogradInput& args, int threads);   \
  void winograd_output(const WinogradOutput& args, int threads); \
  }
SGF_DECLARE_WINOGRAD(scalar)
SGF_DECLARE_WINOGRAD(avx2)
SGF_DECLARE_WINOGRAD(avx512)
#undef SGF_DECLARE_WINOGRAD

}  // namespace cpu
}  // namespace stylegan_fast
