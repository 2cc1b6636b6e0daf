#include "cpu/isa.h"

#include <atomic>
#include <stdexcept>

namespace stylegan_fast {
namespace cpu {

namespace {

bool cpu_runs(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return true;
#if SGF_X86_ISA_VARIANTS
    // __builtin_cpu_supports checks CPUID and the OS-enabled register state (XGETBV).
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
#endif
    default:
      return false;
  }
}

Isa best_isa() {
  if (cpu_runs(Isa::avx512)) return Isa::avx512;
  if (cpu_runs(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

std::atomic<int> forced{-1};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
    default:
      return "scalar";
  }
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (cpu_runs(isa)) out.push_back(isa_name(isa));
  return out;
}

Isa active_isa() {
  static const Isa best = best_isa();
  int f = forced.load(std::memory_order_relaxed);
  return f < 0 ? best : static_cast<Isa>(f);
}

void set_isa(const std::string& name) {
  if (name == "best") {
    forced.store(-1);
    return;
  }
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (name == isa_name(isa)) {
      if (!cpu_runs(isa)) break;
      forced.store(static_cast<int>(isa));
      return;
    }
  }
  std::string supported;
  for (const auto& s : supported_isas()) supported += (supported.empty() ? "" : ", ") + s;
  throw std::invalid_argument("cannot run CPU kernels with ISA '" + name + "' here; this CPU and build support: " +
                              supported + " (or 'best')");
}

}  // namespace cpu
}  // namespace stylegan_fast
