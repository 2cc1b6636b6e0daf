// The one Python extension module: stylegan_fast._C.
//
// Deliberately free of PyTorch C++ headers (no torch/extension.h, ATen, c10):
// kernels receive raw data pointers (uintptr_t), shapes, strides and CUDA
// stream handles from Python, so one build works with any torch version.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "build_info.h"
#include "cpu/cpu_info.h"
#include "cpu/kernels.h"
#if SGF_WITH_CUDA
#include "cuda/bind_cuda.h"
#include "cuda/device_query.h"
#endif

namespace py = pybind11;

namespace {

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

py::dict build_info() {
  using namespace stylegan_fast;
  py::dict d;
  d["version"] = SGF_MODULE_VERSION;
  d["compiler_id"] = SGF_CXX_COMPILER_ID;
  d["compiler_version"] = SGF_CXX_COMPILER_VERSION;
  d["cxx_standard"] = cxx_standard();
  d["build_type"] = SGF_BUILD_TYPE;
  d["cmake_version"] = SGF_CMAKE_VERSION;
  d["march"] = SGF_MARCH_FLAG;  // "" when STYLEGAN_FAST_MARCH=none
  d["simd"] = compiled_simd_features();
  d["simd_missing_on_this_cpu"] = missing_simd_features();
  d["openmp"] = static_cast<bool>(SGF_WITH_OPENMP);
  d["zlib"] = static_cast<bool>(SGF_WITH_ZLIB);  // the batch PNG encoder (png_encode)
  d["cuda_compiled"] = static_cast<bool>(SGF_WITH_CUDA);
  d["cuda_archs"] = split_csv(SGF_CUDA_ARCHS);
  d["nvcc_version"] = std::string(SGF_NVCC_VERSION);  // "" without CUDA
#if SGF_WITH_CUDA
  d["cuda_runtime_version"] = cuda::runtime_version();
#else
  d["cuda_runtime_version"] = py::none();
#endif
  d["pybind11_version"] = std::to_string(PYBIND11_VERSION_MAJOR) + "." +
                          std::to_string(PYBIND11_VERSION_MINOR) + "." +
                          std::to_string(PYBIND11_VERSION_PATCH);
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "stylegan_fast native kernels (torch-free C++/CUDA)";
  m.attr("__version__") = SGF_MODULE_VERSION;
  m.attr("CUDA_COMPILED") = static_cast<bool>(SGF_WITH_CUDA);

  m.def("build_info", &build_info, "Compile-time configuration of this module, as a dict.");
  m.def("openmp_max_threads", &stylegan_fast::cpu::openmp_max_threads,
        "omp_get_max_threads() (1 when built without OpenMP).");
  stylegan_fast::cpu::bind_all(m);

#if SGF_WITH_CUDA
  // Only present when the CUDA sources were compiled (check CUDA_COMPILED or
  // build_info()['cuda_compiled']).
  m.def(
      "cuda_device_count",
      []() {
        py::gil_scoped_release nogil;
        return stylegan_fast::cuda::device_count();
      },
      "(count, error) from cudaGetDeviceCount; (0, '<error>') without GPU/driver.");
  m.def("cuda_runtime_version", &stylegan_fast::cuda::runtime_version,
        "cudaRuntimeGetVersion() of the statically linked CUDA runtime.");
  m.def("cuda_driver_version", &stylegan_fast::cuda::driver_version,
        "cudaDriverGetVersion(); 0 when no driver is installed.");
  stylegan_fast::cuda::bind_cuda(m);  // the kernels: cuda_<op>(...)
#endif
}
