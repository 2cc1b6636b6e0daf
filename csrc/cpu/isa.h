// Which instruction set the CPU kernels run with: chosen once from CPUID, overridable for tests.
//
// Kernels that have per-ISA variants (csrc/cpu/*_avx2.cpp, *_avx512.cpp, compiled with their own
// flags; the portable variant with the default flags) look up the active ISA at every call, so
// stylegan_fast._C.cpu_set_isa("scalar") makes the next call run the portable code.
#pragma once

#include <string>
#include <vector>

namespace stylegan_fast {
namespace cpu {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);

// ISAs with compiled kernels that this CPU (and OS) can run, lowest first.
std::vector<std::string> supported_isas();

// The ISA kernels use now: the best supported one, unless set_isa chose another.
Isa active_isa();

// Force an ISA by name ("scalar", "avx2", "avx512", or "best"); throws std::invalid_argument
// naming the supported ones if this CPU or build cannot run it.
void set_isa(const std::string& name);

}  // namespace cpu
}  // namespace stylegan_fast
