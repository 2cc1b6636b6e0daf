// Every CUDA kernel's host launcher: a plain C++ interface (no pybind11, no CUDA headers), bound
// into stylegan_fast._C by csrc/cuda/bind_cuda.cpp. Compiled only when SGF_WITH_CUDA.
//
// Launchers take data pointers (uintptr_t, 0 for "none"), sizes, the element strides of every 4-D
// tensor (so NCHW and channels_last alike) and the caller's stream and device. Python has checked
// every tensor (device, dtype, shape) first; a launcher throws std::invalid_argument (ValueError)
// for sizes its kernels cannot index and std::runtime_error (RuntimeError) when a launch fails.
// Activations are float32, float16 or bfloat16 (DType); every kernel computes in float32.
#pragma once

#include <cstdint>

#include "noise_bias_act.h"

namespace stylegan_fast {
namespace cuda {

enum class DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

struct Shape4 {
  int64_t N, C, H, W;
};

struct Strides4 {  // in elements
  int64_t n, c, h, w;
};

struct Launch {
  uintptr_t stream;  // cudaStream_t of the caller (torch's current stream)
  int device;        // the tensors' device: made current for the launch
};

// Noise added by an epilogue: [N or 1, 1, H, W] in the activations' dtype (strides.n 0: one map for
// the batch; strides.c unused) times strength, float32 [C] (strength_stride 1) or [1] (0).
struct NoiseInput {
  uintptr_t data = 0;  // 0: no noise
  Strides4 strides{0, 0, 0, 0};
  uintptr_t strength = 0;
  int64_t strength_stride = 0;
};

// y = x * scale[n, c] (scale: float32 [N, C]); y may be x.
void scale_planes(DType dtype, Shape4 shape, uintptr_t x, Strides4 xs, uintptr_t scale, uintptr_t y, Strides4 ys,
                  Launch launch);

// y = bias_act((x + noise * strength) + bias[c]); bias: float32 [C] or 0; y may be x.
void noise_bias_act(DType dtype, Shape4 shape, uintptr_t x, Strides4 xs, uintptr_t bias, NoiseInput noise,
                    BiasAct act, uintptr_t y, Strides4 ys, Launch launch);

// In place, StyleGAN2's conv epilogue: y = bias_act((y * d[n, c] + noise * strength) + bias[c]);
// d: float32 [N, C].
void styled_epilogue(DType dtype, Shape4 shape, uintptr_t y, Strides4 ys, uintptr_t d, uintptr_t bias,
                     NoiseInput noise, BiasAct act, Launch launch);

// styles [N, I], w_sq [O, I] (float32, contiguous) -> styles_out [N, I] = styles (/ max_i |styles[n, i]|
// when rescale: the float16 path) and d [N, O] = demodulation(sum_i styles_out^2 * w_sq).
void demodulation(uintptr_t styles, uintptr_t w_sq, uintptr_t styles_out, uintptr_t d, int64_t N, int64_t I,
                  int64_t O, bool rescale, Launch launch);

// upfirdn2d's correlation taps (float32 [fh, fw], flipped and gain applied by the caller) and geometry.
struct Fir {
  uintptr_t taps;
  int64_t fh, fw, up, down, px0, py0;
};

// y [N, C, OH, OW] = upfirdn2d(x [N, C, H, W]).
void upfirdn2d(DType dtype, Shape4 in, uintptr_t x, Strides4 xs, Fir fir, int64_t OH, int64_t OW, uintptr_t y,
               Strides4 ys, Launch launch);

// y [N, O, H, W] = clamp(sum_c weights[n, o, c] * x[n, c] + bias[o]) (+ the skip image [N, O, H/2, W/2]
// upsampled with skip_taps [2, 2, 2, 2], see csrc/torgb_skip.h). weights: float32 [N, O, C] (the
// weight times the styles), bias float32 [O] or 0, O <= 4, clamp < 0: none. y and skip are y_dtype:
// x's, or float32.
void torgb_skip(DType x_dtype, DType y_dtype, Shape4 in, uintptr_t x, Strides4 xs, uintptr_t weights, uintptr_t bias,
                int64_t O, uintptr_t skip, Strides4 skip_strides, uintptr_t skip_taps, float clamp, uintptr_t y,
                Strides4 ys, Launch launch);
constexpr int64_t kTorgbMaxChannels = 4;

// float32 elements of adain's workspace for x of this shape.
int64_t adain_workspace_floats(Shape4 shape);

// y = ((x - mean) * rsqrt(var + eps)) * scale[n, c] + shift[n, c] per plane (scale, shift float32 [N, C]).
void adain(DType dtype, Shape4 shape, uintptr_t x, Strides4 xs, uintptr_t scale, uintptr_t shift, float eps,
           uintptr_t workspace, uintptr_t y, Strides4 ys, Launch launch);

// y [N, P] (contiguous) = the noise stream of layer `layer` for seeds [N] (int64 in [0, 2^32)).
void noise_stream(DType dtype, uintptr_t seeds, int64_t N, int64_t P, uint32_t layer, uintptr_t y, Launch launch);

}  // namespace cuda
}  // namespace stylegan_fast
