// Persistent thread pool shared by every kernel: workers are created once, park between calls (a short spin,
// then a condition variable) and run the same task function with their thread id. The calling thread is tid 0.
// Also owns per-thread scratch memory (grown on demand, never shrunk) so kernels do not allocate per call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lt {

// fn(ctx, tid, nthreads) runs once on every thread of the pool.
using TaskFn = void (*)(void* ctx, int tid, int nthreads);

// Named scratch slots per thread: gemm packing buffers and kernel-specific work areas never overlap.
enum ScratchSlot : int { kPackA, kPackB, kWork0, kWork1, kWork2, kWork3, kNumSlots };

class Pool {
 public:
  explicit Pool(int threads);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  int threads() const { return nthreads_; }

  // Runs fn on all threads (or only on the caller when `parallel` is false, as tid 0 of 1) and returns when
  // every thread is done. Calls from different host threads are serialized.
  void run(TaskFn fn, void* ctx, bool parallel = true);

  // 64-byte aligned scratch of at least `bytes` for thread `tid`, slot `slot`; valid until the next call with a
  // larger size for the same (tid, slot). Only the owning thread may call it during a run.
  void* scratch(int tid, int slot, size_t bytes);
  // Scratch shared by all threads (allocated by the caller before run()).
  void* shared(int slot, size_t bytes);

 private:
  struct Buffer {
    void* ptr = nullptr;
    size_t size = 0;
  };
  void worker(int tid);
  static void* grow(Buffer& b, size_t bytes);

  int nthreads_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // serializes run() across host threads

  std::mutex park_mutex_;
  std::condition_variable park_cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;

  std::vector<Buffer> scratch_;  // [tid * kNumSlots + slot]
  Buffer shared_[kNumSlots];
};

// A reusable barrier for the threads of one parallel run() (every one of the `n` threads calls wait() equally
// often): for kernels whose threads share data one of them wrote. Spins (pause), then yields, as run()'s join does.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    const uint32_t gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 4096) relax();
      else std::this_thread::yield();
    }
  }

 private:
  static inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<uint32_t> gen_{0};
};

// Splits [0, n) into `parts` contiguous ranges whose boundaries are multiples of `align` (except n itself).
inline void split_range(int64_t n, int parts, int part, int64_t align, int64_t* begin, int64_t* end) {
  int64_t units = (n + align - 1) / align;
  int64_t base = units / parts, extra = units % parts;
  int64_t u0 = part * base + (part < extra ? part : extra);
  int64_t u1 = u0 + base + (part < extra ? 1 : 0);
  *begin = u0 * align < n ? u0 * align : n;
  *end = u1 * align < n ? u1 * align : n;
}

}  // namespace lt
