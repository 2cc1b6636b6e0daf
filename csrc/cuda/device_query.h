// Host-side CUDA runtime queries. Plain C++ interface (no pybind11, no torch)
// so that only device_query.cu needs nvcc. Compiled only when SGF_WITH_CUDA.
#pragma once

#include <string>
#include <utility>

namespace stylegan_fast {
namespace cuda {

// (device count, "" on success or the CUDA error text). Never throws; on a
// machine without a driver/GPU it returns (0, "<error name>: <message>").
std::pair<int, std::string> device_count();

// cudaRuntimeGetVersion() of the statically linked runtime, e.g. 13000.
int runtime_version();

// cudaDriverGetVersion(); 0 when no driver is installed.
int driver_version();

}  // namespace cuda
}  // namespace stylegan_fast
