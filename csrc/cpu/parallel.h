// Threads for the CPU kernels: a range of independent work items split into contiguous chunks.
//
// Each item (an output plane, a row of tiles) is computed by one thread with the same arithmetic
// whatever the split, so results do not depend on the thread count. With OpenMP the threads are
// those of the OpenMP runtime already in the process: torch's wheel loads its libgomp.so.1, and
// the loader resolves this module's libgomp.so.1 to that same library, so one thread pool serves
// torch's ops and ours (two runtimes would spin against each other between calls). Without
// OpenMP, std::threads are started per call.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

#if SGF_WITH_OPENMP
#include <omp.h>
#endif

namespace stylegan_fast {
namespace cpu {

// fn(begin, end) over [0, n) in at most `threads` chunks.
template <class Fn>
void parallel_for(int64_t n, int threads, Fn&& fn) {
  if (n <= 0) return;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  auto bounds = [&](int64_t i) { return n * i / chunks; };
  if (chunks == 1) {
    fn(int64_t{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(chunks);
  auto run = [&](int64_t i) {
    try {
      fn(bounds(i), bounds(i + 1));
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
#if SGF_WITH_OPENMP
#pragma omp parallel num_threads(static_cast<int>(chunks))
  {
    // Chunk i always covers the same items; a runtime granting fewer threads runs several chunks.
    for (int64_t i = omp_get_thread_num(); i < chunks; i += omp_get_num_threads()) run(i);
  }
#else
  std::vector<std::thread> pool;
  for (int64_t i = 1; i < chunks; ++i) pool.emplace_back(run, i);
  run(0);
  for (auto& t : pool) t.join();
#endif
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace cpu
}  // namespace stylegan_fast
