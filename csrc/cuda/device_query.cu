#include "cuda/device_query.h"

#include <cuda_runtime.h>

namespace stylegan_fast {
namespace cuda {

// Gives the TU real device code, so the fatbinary holds SASS for every arch.
__global__ void noop_kernel() {}

namespace {

std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

}  // namespace

std::pair<int, std::string> device_count() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error state
    return {0, describe(err)};
  }
  return {count, std::string()};
}

int runtime_version() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return v;
}

int driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return v;
}

}  // namespace cuda
}  // namespace stylegan_fast
