// The Winograd data kernels compiled for scalar (the default flags: any CPU of the platform).
#define SGF_ISA scalar
#include "cpu/winograd_kernels.inc"
