// The Winograd data kernels compiled for avx512 (CMake gives *_avx512.cpp its flags).
#define SGF_ISA avx512
#include "cpu/winograd_kernels.inc"
