// Every CPU kernel's binding into stylegan_fast._C, one function per csrc/cpu/<op>.cpp.
//
// Bindings take data pointers (uintptr_t, 0 for "none"), sizes and a thread count from Python,
// which has checked every tensor (device, dtype, contiguity, shape) before the call; they release
// the GIL while the kernel runs.
#pragma once

#include <pybind11/pybind11.h>

namespace stylegan_fast {
namespace cpu {

void bind_isa(pybind11::module_& m);
void bind_winograd(pybind11::module_& m);
void bind_noise_bias_act(pybind11::module_& m);
void bind_upfirdn2d(pybind11::module_& m);
void bind_torgb_skip(pybind11::module_& m);
void bind_adain(pybind11::module_& m);
void bind_noise_stream(pybind11::module_& m);
void bind_png_encode(pybind11::module_& m);  // only with zlib (SGF_WITH_ZLIB)

inline void bind_all(pybind11::module_& m) {
  bind_isa(m);
  bind_winograd(m);
  bind_noise_bias_act(m);
  bind_upfirdn2d(m);
  bind_torgb_skip(m);
  bind_adain(m);
  bind_noise_stream(m);
  bind_png_encode(m);
}

template <class T>
T* pointer(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

}  // namespace cpu
}  // namespace stylegan_fast
