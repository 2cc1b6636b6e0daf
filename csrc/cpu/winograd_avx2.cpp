// The Winograd data kernels compiled for avx2 (CMake gives *_avx2.cpp its flags).
#define SGF_ISA avx2
#include "cpu/winograd_kernels.inc"
