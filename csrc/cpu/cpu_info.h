#pragma once

namespace stylegan_fast {
namespace cpu {

// omp_get_max_threads() when built with OpenMP, else 1.
int openmp_max_threads();

}  // namespace cpu
}  // namespace stylegan_fast
