// Threads for the CPU kernels: a range of independent work items split into contiguous chunks.
//
// Each item (an output plane, a row of tiles) is computed by one thread with the same arithmetic
// whatever the split, so results do not depend on the thread count. Threads are std::threads
// started per call (tens of microseconds, against milliseconds of work per call), so no second
// OpenMP runtime spins beside the one torch loads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace stylegan_fast {
namespace cpu {

// fn(begin, end) over [0, n) in at most `threads` chunks; the calling thread runs the first.
template <class Fn>
void parallel_for(int64_t n, int threads, Fn&& fn) {
  if (n <= 0) return;
  int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  if (chunks == 1) {
    fn(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(chunks);
  auto bounds = [&](int64_t i) { return n * i / chunks; };
  for (int64_t i = 1; i < chunks; ++i) {
    pool.emplace_back([&, i] {
      try {
        fn(bounds(i), bounds(i + 1));
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  try {
    fn(bounds(0), bounds(1));
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace cpu
}  // namespace stylegan_fast
