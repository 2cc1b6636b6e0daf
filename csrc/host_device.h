// SGF_HOST_DEVICE: inline functions shared by the C++ CPU kernels and the CUDA kernels.
#pragma once

#if defined(__CUDACC__)
#define SGF_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SGF_HOST_DEVICE inline
#endif
