// The CUDA kernels' bindings into stylegan_fast._C (csrc/cuda/kernels.h), compiled only with CUDA.
//
// Every binding takes the data pointers (uintptr_t, 0 for "none"), [N, C, H, W] sizes and element
// strides as 4-tuples, and last the caller's stream (torch.cuda.current_stream().cuda_stream) and
// device index; dtypes are codes (0 float32, 1 float16, 2 bfloat16). Python (ops/cuda_support.py)
// has checked every tensor. The GIL is released while the kernels are launched.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "cuda/bind_cuda.h"
#include "cuda/kernels.h"

namespace py = pybind11;

namespace stylegan_fast {
namespace cuda {

namespace {

using Four = std::array<int64_t, 4>;

Shape4 shape4(const Four& s) { return Shape4{s[0], s[1], s[2], s[3]}; }
Strides4 strides4(const Four& s) { return Strides4{s[0], s[1], s[2], s[3]}; }
DType dtype_of(int code) { return static_cast<DType>(code); }
BiasAct bias_act_of(float gain, bool lrelu, float alpha, float clamp) { return BiasAct{gain, alpha, clamp, lrelu}; }

}  // namespace

void bind_cuda(py::module_& m) {
  m.def(
      "cuda_scale_planes",
      [](int dtype, Four shape, uintptr_t x, Four xs, uintptr_t scale, uintptr_t y, Four ys, uintptr_t stream,
         int device) {
        py::gil_scoped_release nogil;
        scale_planes(dtype_of(dtype), shape4(shape), x, strides4(xs), scale, y, strides4(ys), Launch{stream, device});
      },
      "y = x * scale[n, c] (scale float32 [N, C]); y may be x.");
  m.def(
      "cuda_noise_bias_act",
      [](int dtype, Four shape, uintptr_t x, Four xs, uintptr_t bias, uintptr_t noise, Four noise_strides,
         uintptr_t strength, int64_t strength_stride, float gain, bool lrelu, float alpha, float clamp, uintptr_t y,
         Four ys, uintptr_t stream, int device) {
        py::gil_scoped_release nogil;
        noise_bias_act(dtype_of(dtype), shape4(shape), x, strides4(xs), bias,
                       NoiseInput{noise, strides4(noise_strides), strength, strength_stride},
                       bias_act_of(gain, lrelu, alpha, clamp), y, strides4(ys), Launch{stream, device});
      },
      "y = bias_act((x + noise * strength) + bias): bias float32 [C] or 0, noise [N or 1, 1, H, W] in x's dtype "
      "or 0 with strength float32 [C] (stride 1) or [1] (stride 0); clamp < 0: none.");
  m.def(
      "cuda_styled_epilogue",
      [](int dtype, Four shape, uintptr_t y, Four ys, uintptr_t d, uintptr_t bias, uintptr_t noise,
         Four noise_strides, uintptr_t strength, int64_t strength_stride, float gain, bool lrelu, float alpha,
         float clamp, uintptr_t stream, int device) {
        py::gil_scoped_release nogil;
        styled_epilogue(dtype_of(dtype), shape4(shape), y, strides4(ys), d, bias,
                        NoiseInput{noise, strides4(noise_strides), strength, strength_stride},
                        bias_act_of(gain, lrelu, alpha, clamp), Launch{stream, device});
      },
      "In place: y = bias_act((y * d[n, c] + noise * strength) + bias), d float32 [N, C].");
  m.def(
      "cuda_demodulation",
      [](uintptr_t styles, uintptr_t w_sq, uintptr_t styles_out, uintptr_t d, int64_t N, int64_t I, int64_t O,
         bool rescale, uintptr_t stream, int device) {
        py::gil_scoped_release nogil;
        demodulation(styles, w_sq, styles_out, d, N, I, O, rescale, Launch{stream, device});
      },
      "styles [N, I], w_sq [O, I] float32 -> styles_out [N, I] (divided by each row's max |s| when rescale) and "
      "d [N, O] = rsqrt(styles_out^2 @ w_sq.T + 1e-8).");
  m.def(
      "cuda_upfirdn2d",
      [](int dtype, Four shape, uintptr_t x, Four xs, uintptr_t taps, int64_t fh, int64_t fw, int64_t up,
         int64_t down, int64_t px0, int64_t py0, int64_t OH, int64_t OW, uintptr_t y, Four ys, uintptr_t stream,
         int device) {
        py::gil_scoped_release nogil;
        upfirdn2d(dtype_of(dtype), shape4(shape), x, strides4(xs), Fir{taps, fh, fw, up, down, px0, py0}, OH, OW, y,
                  strides4(ys), Launch{stream, device});
      },
      "y [N, C, OH, OW] = upfirdn2d(x [N, C, H, W]) with correlation taps float32 [fh, fw] (gain applied), up, "
      "down and the leading padding (px0, py0).");
  m.def(
      "cuda_torgb_skip",
      [](int x_dtype, int y_dtype, Four shape, uintptr_t x, Four xs, uintptr_t weights, uintptr_t bias, int64_t O,
         uintptr_t skip, Four skip_strides, uintptr_t skip_taps, float clamp, uintptr_t y, Four ys, uintptr_t stream,
         int device) {
        py::gil_scoped_release nogil;
        torgb_skip(dtype_of(x_dtype), dtype_of(y_dtype), shape4(shape), x, strides4(xs), weights, bias, O, skip,
                   strides4(skip_strides), skip_taps, clamp, y, strides4(ys), Launch{stream, device});
      },
      "y [N, O, H, W] = clamp(weights [N, O, C] . x + bias) (+ skip [N, O, H/2, W/2] upsampled with its phase taps "
      "[2, 2, 2, 2]); y and skip in y_dtype (x's or float32).");
  m.attr("CUDA_TORGB_MAX_CHANNELS") = kTorgbMaxChannels;
  m.def(
      "cuda_adain_workspace_floats", [](Four shape) { return adain_workspace_floats(shape4(shape)); },
      "float32 elements of the workspace cuda_adain needs for x of this shape.");
  m.def(
      "cuda_adain",
      [](int dtype, Four shape, uintptr_t x, Four xs, uintptr_t scale, uintptr_t shift, float eps,
         uintptr_t workspace, uintptr_t y, Four ys, uintptr_t stream, int device) {
        py::gil_scoped_release nogil;
        adain(dtype_of(dtype), shape4(shape), x, strides4(xs), scale, shift, eps, workspace, y, strides4(ys),
              Launch{stream, device});
      },
      "y = ((x - mean) * rsqrt(var + eps)) * scale + shift per plane (scale, shift float32 [N, C]).");
  m.def(
      "cuda_noise_stream",
      [](int dtype, uintptr_t seeds, int64_t N, int64_t P, uint32_t layer, uintptr_t y, uintptr_t stream,
         int device) {
        py::gil_scoped_release nogil;
        noise_stream(dtype_of(dtype), seeds, N, P, layer, y, Launch{stream, device});
      },
      "seeds [N] int64 -> y [N, P]: pixel p of map n is tl.randn(seeds[n] | layer << 32, p).");
}

}  // namespace cuda
}  // namespace stylegan_fast
