// Compile-time facts about the native module, exposed as _C.build_info().
#pragma once

#include <string>
#include <vector>

namespace stylegan_fast {

// SIMD instruction-set macros the CPU sources were compiled with.
std::vector<std::string> compiled_simd_features();

// Subset of compiled_simd_features() that the CPU running this process lacks
// (x86 only; empty elsewhere). Non-empty means CPU kernels may fault.
std::vector<std::string> missing_simd_features();

std::string cxx_standard();

}  // namespace stylegan_fast
