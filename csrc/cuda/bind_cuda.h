// The CUDA kernels' bindings (csrc/cuda/bind_cuda.cpp), added to stylegan_fast._C by csrc/bindings.cpp
// when the module is built with CUDA.
#pragma once

#include <pybind11/pybind11.h>

namespace stylegan_fast {
namespace cuda {

void bind_cuda(pybind11::module_& m);

}  // namespace cuda
}  // namespace stylegan_fast
