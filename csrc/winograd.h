// Winograd F(4x4, 3x3) (Lavin & Gray 2016, interpolation points 0, 1, -1, 2, -2, infinity):
//     Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// for a 6x6 input tile d, a 3x3 kernel g (cross-correlation, as torch's conv2d) and the 4x4 output
// tile Y. The kernel transform G g G^T is computed once per weight in float64 by the Python side
// (stylegan_fast/ops/winograd.py, which holds G); B^T and A^T are applied here to one row of six
// values at a time, so the kernels can run them over a whole row of tiles.
#pragma once

#include "host_device.h"

namespace stylegan_fast {
namespace winograd {

constexpr int kTile = 4;    // output tile
constexpr int kInput = 6;   // input tile (kTile + 3 - 1)
constexpr int kPoints = 36; // kInput * kInput

// t = B^T d
//   [4  0 -5  0  1  0]
//   [0 -4 -4  1  1  0]
//   [0  4 -4 -1  1  0]
//   [0 -2 -1  2  1  0]
//   [0  2 -1 -2  1  0]
//   [0  4  0 -5  0  1]
SGF_HOST_DEVICE void input_transform(float d0, float d1, float d2, float d3, float d4, float d5, float* t0,
                                     float* t1, float* t2, float* t3, float* t4, float* t5) {
  float a = d4 - 4.0f * d2;  // shared by rows 1, 2
  float b = d3 - 4.0f * d1;
  float c = d4 - d2;         // shared by rows 3, 4
  float e = 2.0f * (d3 - d1);
  *t0 = 4.0f * d0 - 5.0f * d2 + d4;
  *t1 = a + b;
  *t2 = a - b;
  *t3 = c + e;
  *t4 = c - e;
  *t5 = 4.0f * d1 - 5.0f * d3 + d5;
}

// y = A^T m
//   [1  1  1  1  1  0]
//   [0  1 -1  2 -2  0]
//   [0  1  1  4  4  0]
//   [0  1 -1  8 -8  1]
SGF_HOST_DEVICE void output_transform(float m0, float m1, float m2, float m3, float m4, float m5, float* y0,
                                      float* y1, float* y2, float* y3) {
  float p = m1 + m2, q = m1 - m2, r = m3 + m4, s = m3 - m4;
  *y0 = m0 + p + r;
  *y1 = q + 2.0f * s;
  *y2 = p + 4.0f * r;
  *y3 = q + 8.0f * s + m5;
}

}  // namespace winograd
}  // namespace stylegan_fast
