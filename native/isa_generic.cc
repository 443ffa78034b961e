// Portable kernels: no ISA flags, 4-wide GCC/Clang vector extensions (SSE2 on x86-64, NEON on arm64).
// f32 matmul micro-kernel: 6×8 register tile (12 four-lane accumulators). bf16 weights are widened while packing.
//
// An ISA translation unit holds only what differs per ISA; every op is written once in ops/*.inc over `V`:
//   struct V, the vector contract:
//     T, W (lanes); load/store (unaligned), loadn/storen (first n < W lanes, the rest zero / untouched),
//     keepn (zero lanes ≥ n), load_bf16/loadn_bf16 (bf16 → f32), load_bf16_split (2W bf16 → the even-indexed
//     and the odd-indexed values as f32: a shift and a mask, no lane shuffle), zero, set1, add, sub, mul, div, max,
//     fmadd(a,b,c) = a·b + c, fnmadd(a,b,c) = c − a·b, sqrt, hsum, hmax, and exp (≤ 2 ulp; 0 below -87.5 and for
//     -inf; NaN stays NaN; saturates at exp(88)); kTransposePacks, and when true transpose (see matmul_pack.inc);
//   kIsaName; the matmul kernel traits KernF32 and KernBf16 (register tile, cache blocks, kShareB, micro-kernel) and
//   has_bf16_dot(); the conversions cvt_f32_bf16, cvt_f16_f32, cvt_f32_f16 (scalar here).
// Layout of each: V, then ops/common.inc and ops/matmul_pack.inc, the traits and conversions, then ops/all.inc
// (every op family and the one KernelTable initialiser).
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace lt {
namespace generic {

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

// ---------------------------------------------------------------------------------------------- vector helpers
struct V {
  using T = v4f;
  static constexpr int64_t W = 4;
  static constexpr bool kTransposePacks = false;  // scalar packing (pack_*_block_f32)
  static inline T load(const float* p) {
    T v;
    std::memcpy(&v, p, 16);
    return v;
  }
  static inline void store(float* p, T v) { std::memcpy(p, &v, 16); }
  static inline T loadn(const float* p, int64_t n) {
    if (n >= W) return load(p);
    T v = {0, 0, 0, 0};
    for (int64_t i = 0; i < n; ++i) v[i] = p[i];
    return v;
  }
  static inline void storen(float* p, int64_t n, T v) {
    if (n >= W) return store(p, v);
    for (int64_t i = 0; i < n; ++i) p[i] = v[i];
  }
  static inline T keepn(T v, int64_t n) {
    for (int64_t i = n; i < W; ++i) v[i] = 0.f;
    return v;
  }
  static inline T load_bf16(const uint16_t* p) {
    v4i u = {p[0], p[1], p[2], p[3]};
    return reinterpret_cast<T>(u << 16);
  }
  static inline T loadn_bf16(const uint16_t* p, int64_t n) {
    if (n >= W) return load_bf16(p);
    v4i u = {0, 0, 0, 0};
    for (int64_t i = 0; i < n; ++i) u[i] = p[i];
    return reinterpret_cast<T>(u << 16);
  }
  static inline void load_bf16_split(const uint16_t* p, T* even, T* odd) {
    v4i w;
    std::memcpy(&w, p, 16);
    *even = reinterpret_cast<T>(w << 16);
    *odd = reinterpret_cast<T>(w & -65536);
  }
  static inline T zero() { return T{0, 0, 0, 0}; }
  static inline T set1(float x) { return T{x, x, x, x}; }
  static inline T add(T a, T b) { return a + b; }
  static inline T sub(T a, T b) { return a - b; }
  static inline T mul(T a, T b) { return a * b; }
  static inline T div(T a, T b) { return a / b; }
  static inline T max(T a, T b) { return a > b ? a : b; }
  static inline T fmadd(T a, T b, T c) { return a * b + c; }
  static inline T fnmadd(T a, T b, T c) { return c - a * b; }
  static inline T sqrt(T a) { return T{std::sqrt(a[0]), std::sqrt(a[1]), std::sqrt(a[2]), std::sqrt(a[3])}; }
  static inline float hsum(T a) { return (a[0] + a[1]) + (a[2] + a[3]); }
  static inline float hmax(T a) {
    const float x = a[0] > a[1] ? a[0] : a[1], y = a[2] > a[3] ? a[2] : a[3];
    return x > y ? x : y;
  }
  static inline T exp(T x) {
    const v4i tiny = x < set1(-87.5f);
    x = set1(-87.5f) > x ? set1(-87.5f) : x;  // keeps NaN
    x = set1(88.f) < x ? set1(88.f) : x;
    const T magic = set1(12582912.f);  // 1.5·2^23: adding and subtracting rounds to nearest even
    const T n = (x * set1(1.44269504088896341f) + magic) - magic;
    const T r = (x - n * set1(0.693359375f)) - n * set1(-2.12194440e-4f);
    T p = set1(1.9875691500e-4f);
    p = p * r + set1(1.3981999507e-3f);
    p = p * r + set1(8.3334519073e-3f);
    p = p * r + set1(4.1665795894e-2f);
    p = p * r + set1(1.6666665459e-1f);
    p = p * r + set1(5.0000001201e-1f);
    p = p * (r * r) + (r + set1(1.f));
    const v4i e = (__builtin_convertvector(n, v4i) + 127) << 23;
    return reinterpret_cast<T>(reinterpret_cast<v4i>(p * reinterpret_cast<T>(e)) & ~tiny);
  }
};

static constexpr char kIsaName[] = "generic";

#include "ops/common.inc"
#include "ops/matmul_pack.inc"

// ---------------------------------------------------------------------------------------------- micro-kernel
// C[6, 8] (+)= Ap[6, kc] · Bp[kc, 8]; accumulators are 12 named four-lane vectors.
#define LT_ROW(i)                 \
  {                               \
    const float a = A[i];         \
    c##i##_0 += a * b0;           \
    c##i##_1 += a * b1;           \
  }
#define LT_STORE(i)                                 \
  {                                                 \
    float* r = C + (i) * ldc;                       \
    if (add) {                                      \
      c##i##_0 += V::load(r);                       \
      c##i##_1 += V::load(r + 4);                   \
    }                                               \
    V::store(r, c##i##_0);                          \
    V::store(r + 4, c##i##_1);                      \
  }
#define LT_DECL(i) v4f c##i##_0 = V::zero(), c##i##_1 = V::zero();
#define LT_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5)

struct KernF32 {
  static constexpr int MR = 6, NR = 8, KSTEP = 1;
  static constexpr int64_t KC = 256, MC = 120, NC = 2048;
  static constexpr bool kShareB = false;  // threads pack their own blocks (matmul_driver.inc)
  using PA = float;
  using PB = float;
  static void packA(float* d, const GemmArgs& g, int64_t m0, int64_t mc, int64_t k0, int64_t kc) {
    pack_a_panels<MR>(d, g, m0, mc, k0, kc);
  }
  static void packB(float* d, const GemmArgs& g, int64_t n0, int64_t nc, int64_t k0, int64_t kc) {
    pack_b_panels<NR>(d, g, n0, nc, k0, kc);
  }
  static void ukr(int64_t kc, const float* __restrict A, const float* __restrict B, float* __restrict C, int64_t ldc,
                  bool add) {
    LT_ALL(LT_DECL)
    for (int64_t k = 0; k < kc; ++k) {
      const v4f b0 = V::load(B), b1 = V::load(B + 4);
      LT_ALL(LT_ROW)
      A += MR;
      B += NR;
    }
    LT_ALL(LT_STORE)
  }
};

// No bf16 dot product: bf16 weights take the f32 kernel, widened exactly while packing.
using KernBf16 = KernF32;
static inline bool has_bf16_dot() { return false; }

// ---------------------------------------------------------------------------------------------- conversions
static void cvt_f32_bf16(uint16_t* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_round(in[i]);
}
static void cvt_f16_f32(float* out, const uint16_t* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f16_value(in[i]);
}
static void cvt_f32_f16(uint16_t* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f16_round(in[i]);
}

#include "ops/all.inc"

}  // namespace generic

const KernelTable* generic_kernels() { return &generic::kTable; }

}  // namespace lt
