#include "build_info.h"

namespace stylegan_fast {

namespace {

struct Feature {
  const char* name;
  const char* cpuid_name;  // name for __builtin_cpu_supports, nullptr if none
};

const std::vector<Feature>& compiled_features() {
  static const std::vector<Feature> feats = {
#if defined(__SSE4_2__)
      {"sse4.2", "sse4.2"},
#endif
#if defined(__AVX__)
      {"avx", "avx"},
#endif
#if defined(__AVX2__)
      {"avx2", "avx2"},
#endif
#if defined(__FMA__)
      {"fma", "fma"},
#endif
#if defined(__F16C__)
      {"f16c", nullptr},
#endif
#if defined(__AVX512F__)
      {"avx512f", "avx512f"},
#endif
#if defined(__AVX512BW__)
      {"avx512bw", "avx512bw"},
#endif
#if defined(__AVX512VL__)
      {"avx512vl", "avx512vl"},
#endif
#if defined(__AVX512VNNI__)
      {"avx512vnni", nullptr},
#endif
#if defined(__AVX512BF16__)
      {"avx512bf16", nullptr},
#endif
#if defined(__AVX512FP16__)
      {"avx512fp16", nullptr},
#endif
#if defined(__AMX_TILE__)
      {"amx_tile", nullptr},
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
      {"neon", nullptr},
#endif
#if defined(__ARM_FEATURE_SVE)
      {"sve", nullptr},
#endif
  };
  return feats;
}

}  // namespace

std::vector<std::string> compiled_simd_features() {
  std::vector<std::string> out;
  for (const auto& f : compiled_features()) out.emplace_back(f.name);
  return out;
}

std::vector<std::string> missing_simd_features() {
  std::vector<std::string> out;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  for (const auto& f : compiled_features()) {
    if (f.cpuid_name == nullptr) continue;
    // __builtin_cpu_supports needs a string literal, hence the chain.
    const std::string n = f.cpuid_name;
    bool ok = true;
    if (n == "sse4.2") ok = __builtin_cpu_supports("sse4.2");
    else if (n == "avx") ok = __builtin_cpu_supports("avx");
    else if (n == "avx2") ok = __builtin_cpu_supports("avx2");
    else if (n == "fma") ok = __builtin_cpu_supports("fma");
    else if (n == "avx512f") ok = __builtin_cpu_supports("avx512f");
    else if (n == "avx512bw") ok = __builtin_cpu_supports("avx512bw");
    else if (n == "avx512vl") ok = __builtin_cpu_supports("avx512vl");
    if (!ok) out.emplace_back(f.name);
  }
#endif
  return out;
}

std::string cxx_standard() {
#if __cplusplus > 202002L
  return "c++23";
#elif __cplusplus >= 202002L
  return "c++20";
#elif __cplusplus >= 201703L
  return "c++17";
#else
  return "c++" + std::to_string(__cplusplus);
#endif
}

}  // namespace stylegan_fast
