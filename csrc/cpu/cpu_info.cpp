#include "cpu/cpu_info.h"

#if SGF_WITH_OPENMP
#include <omp.h>
#endif

namespace stylegan_fast {
namespace cpu {

int openmp_max_threads() {
#if SGF_WITH_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace cpu
}  // namespace stylegan_fast
