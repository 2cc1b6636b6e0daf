// Winograd F(4x4, 3x3): the ISA dispatch and the binding of the two data kernels.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "cpu/isa.h"
#include "cpu/kernels.h"
#include "cpu/winograd_kernels.h"

namespace py = pybind11;

namespace stylegan_fast {
namespace cpu {

namespace {

// The data kernels of one ISA, looked up from the active ISA at every call.
struct WinogradKernels {
  void (*input)(const WinogradInput&, int);
  void (*output)(const WinogradOutput&, int);
};

WinogradKernels kernels() {
  switch (active_isa()) {
#if SGF_X86_ISA_VARIANTS
    case Isa::avx512:
      return {avx512::winograd_input, avx512::winograd_output};
    case Isa::avx2:
      return {avx2::winograd_input, avx2::winograd_output};
#endif
    default:
      return {scalar::winograd_input, scalar::winograd_output};
  }
}

}  // namespace

void bind_isa(py::module_& m) {
  m.def("cpu_supported_isas", &supported_isas, "ISAs with CPU kernels this machine can run, lowest first.");
  m.def("cpu_active_isa", [] { return std::string(isa_name(active_isa())); },
        "The ISA the CPU kernels run with now.");
  m.def("cpu_set_isa", &set_isa, py::arg("name"),
        "Force the CPU kernels' ISA: 'scalar', 'avx2', 'avx512' or 'best' (raises if this CPU cannot).");
}

void bind_winograd(py::module_& m) {
  m.def(
      "winograd_input",
      [](uintptr_t x, uintptr_t scale, uintptr_t v, int64_t N, int64_t C, int64_t H, int64_t W, int64_t row_begin,
         int64_t row_end, int threads) {
        WinogradInput args{pointer<const float>(x), pointer<const float>(scale), pointer<float>(v), N, C, H, W,
                           row_begin, row_end};
        py::gil_scoped_release nogil;
        kernels().input(args, threads);
      },
      "x [N, C, H, W] float32 (times scale [N, C] if given) -> V [36, C, T] for tile rows [row_begin, row_end).");
  m.def(
      "winograd_output",
      [](uintptr_t mat, uintptr_t y, int64_t N, int64_t O, int64_t H, int64_t W, int up, int64_t row_begin,
         int64_t row_end, uintptr_t demod, uintptr_t noise, int64_t noise_batch_stride, uintptr_t strength,
         uintptr_t bias, float gain, bool lrelu, float alpha, float clamp, int threads) {
        WinogradOutput args{pointer<const float>(mat), pointer<float>(y), N, O, H, W, up, row_begin, row_end,
                            pointer<const float>(demod), pointer<const float>(noise), noise_batch_stride,
                            pointer<const float>(strength), pointer<const float>(bias),
                            BiasAct{gain, alpha, clamp, lrelu}};
        py::gil_scoped_release nogil;
        kernels().output(args, threads);
      },
      "M [36, up*up*O, T] -> y [N, O, H*up, W*up] with demodulation, noise, bias, activation and clamp.");
}

}  // namespace cpu
}  // namespace stylegan_fast
