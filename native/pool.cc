// Persistent thread pool: see pool.h. Compiled without ISA flags.
#include "pool.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// Bind condition_variable::wait to its GLIBCXX_3.4.11 version instead of the GLIBCXX_3.4.30 one that GCC 12's
// headers pick (the same function, made cancellable in GCC 12; the pool never cancels threads). That one symbol is
// all that tied a binary built with GCC 12 to GCC 12's libstdc++; without it the prebuilt binaries load with the
// libstdc++ of GCC 6 and later (Ubuntu 20.04, Debian 11, RHEL 9).
#if defined(__linux__) && defined(__GLIBCXX__)
__asm__(".symver _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE,"
        "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE@GLIBCXX_3.4.11");
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() { std::this_thread::yield(); }
#endif

namespace lt {

// How long a worker spins for the next task before parking on the condition variable. Kernel calls from a
// training step follow each other within microseconds, so a short spin keeps the workers hot without
// burning a core while JavaScript does something else.
static constexpr auto kSpin = std::chrono::microseconds(200);

Pool::Pool(int threads) : nthreads_(threads < 1 ? 1 : threads), scratch_(static_cast<size_t>(nthreads_) * kNumSlots) {
  workers_.reserve(nthreads_ - 1);
  for (int tid = 1; tid < nthreads_; ++tid) workers_.emplace_back(&Pool::worker, this, tid);
}

Pool::~Pool() {
  {
    std::lock_guard<std::mutex> lock(park_mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  park_cv_.notify_all();
  for (auto& t : workers_) t.join();
  for (auto& b : scratch_) std::free(b.ptr);
  for (auto& b : shared_) std::free(b.ptr);
}

void Pool::worker(int tid) {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little, then park.
    auto start = std::chrono::steady_clock::now();
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen) {
      cpu_relax();
      if (++spins % 64 == 0 && std::chrono::steady_clock::now() - start > kSpin) break;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(park_mutex_);
      sleepers_.fetch_add(1);
      park_cv_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    fn_(ctx_, tid, nthreads_);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

void Pool::run(TaskFn fn, void* ctx, bool parallel) {
  std::lock_guard<std::mutex> guard(run_mutex_);
  if (!parallel || nthreads_ == 1) {
    fn(ctx, 0, 1);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  pending_.store(nthreads_ - 1);
  generation_.fetch_add(1);  // seq_cst: a worker that parks after this sees the new generation
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(park_mutex_); }
    park_cv_.notify_all();
  }
  fn(ctx, 0, nthreads_);
  // Workers usually finish within microseconds of the caller; if one was descheduled (an oversubscribed
  // machine), stop burning the caller's time slice.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4096) cpu_relax();
    else std::this_thread::yield();
  }
}

void* Pool::grow(Buffer& b, size_t bytes) {
  if (bytes <= b.size) return b.ptr;
  size_t size = (bytes + (bytes >> 2) + 4095) & ~static_cast<size_t>(4095);  // 25% headroom, page multiple
  void* p = std::aligned_alloc(64, size);
  if (!p) {
    std::fprintf(stderr, "loratune native: out of memory allocating %zu bytes of scratch\n", size);
    std::abort();
  }
  std::free(b.ptr);
  b.ptr = p;
  b.size = size;
  return p;
}

void* Pool::scratch(int tid, int slot, size_t bytes) {
  return grow(scratch_[static_cast<size_t>(tid) * kNumSlots + slot], bytes);
}

void* Pool::shared(int slot, size_t bytes) { return grow(shared_[slot], bytes); }

}  // namespace lt
