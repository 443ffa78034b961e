// AVX-512 kernels (F, BW, VL, DQ; BF16 dot products when the CPU has them). Compiled with the AVX-512 flags
// only; the glue calls into it only after __builtin_cpu_supports says the CPU has them.
// What an ISA file holds and in which order: see isa_generic.cc. Here: 16-lane V with a 16×16 transpose for the NT
// packs; f32 matmul micro-kernel with a 12×32 register tile (24 zmm accumulators); bf16: vdpbf16ps on k-pairs with
// f32 sums (KernBf16, when the CPU has AVX512_BF16: bf16 weights, and block formats decoded and rounded to bf16;
// activations rounded to bf16 pairs 32 values at a time by V::bf16_pairs while packing, threads sharing the packed
// weight blocks); F16C conversions with exact NaN payloads.
#if defined(__x86_64__)
#include <immintrin.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace lt {
namespace avx512 {

// ---------------------------------------------------------------------------------------------- vector helpers
struct V {
  using T = __m512;
  static constexpr int64_t W = 16;
  static inline __mmask16 mask(int64_t n) { return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u); }
  static inline T load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static inline T loadn(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static inline void storen(float* p, int64_t n, T v) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static inline T keepn(T v, int64_t n) { return _mm512_maskz_mov_ps(mask(n), v); }
  static inline T widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static inline T load_bf16(const uint16_t* p) { return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static inline T loadn_bf16(const uint16_t* p, int64_t n) { return widen_bf16(_mm256_maskz_loadu_epi16(mask(n), p)); }
  // Rounds the first n ≤ 2W values of src to bf16 (as bf16_round) and stores them as W k-pairs (the A operand of
  // vdpbf16ps): dst[p] = bf16(src[2p]) | bf16(src[2p + 1]) << 16, zero past n. dst is 64-byte aligned.
  static inline void bf16_pairs(const float* src, int64_t n, uint32_t* dst);
  // W k-pairs from two rows: dst[j] = bf16(lo[j]) | bf16(hi[j]) << 16 for j < n ≤ W, zero for n ≤ j < W (all W
  // stored).
  static inline void bf16_interleave(const float* lo, const float* hi, int64_t n, uint32_t* dst);
  static inline void load_bf16_split(const uint16_t* p, T* even, T* odd) {
    const __m512i w = _mm512_loadu_si512(p);
    *even = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    *odd = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(-65536)));
  }
  static inline T zero() { return _mm512_setzero_ps(); }
  static inline T set1(float x) { return _mm512_set1_ps(x); }
  static inline T add(T a, T b) { return _mm512_add_ps(a, b); }
  static inline T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static inline T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static inline T div(T a, T b) { return _mm512_div_ps(a, b); }
  static inline T max(T a, T b) { return _mm512_max_ps(a, b); }
  static inline T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static inline T fnmadd(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }
  static inline T sqrt(T a) { return _mm512_sqrt_ps(a); }
  static inline float hsum(T a) { return _mm512_reduce_add_ps(a); }
  static inline float hmax(T a) { return _mm512_reduce_max_ps(a); }
  // exp(x): Cephes-style range reduction and degree-6 polynomial (≤ 2 ulp); 0 for x < -87.5 (and -inf),
  // NaN stays NaN, large x saturate at exp(88).
  static inline T exp(T x) {
    const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.5f), _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_set1_ps(88.f), _mm512_max_ps(_mm512_set1_ps(-87.5f), x));
    const T n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    T r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    T p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(static_cast<__mmask16>(~tiny), p, _mm512_castsi512_ps(e));
  }
  // The NT packs (matmul_pack.inc) transpose 16×16 tiles in registers: see transpose16 below.
  static constexpr bool kTransposePacks = true;
  static inline void transpose(const float* src, int64_t ld, int64_t nrows, float* dst, int64_t dstride, int lanes);
};

// ---------------------------------------------------------------------------------------------- transpose tile
// Transposes a 16×16 tile of 32-bit values: row i < nrows from src + i·ld (zero rows beyond), column c stored to
// dst + c·dstride under `mask` (its lanes are the rows).
static inline void transpose16(const float* src, int64_t ld, int64_t nrows, float* dst, int64_t dstride,
                               __mmask16 mask) {
  __m512 r[16], t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = i < nrows ? _mm512_loadu_ps(src + i * ld) : _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {  // [a0 b0 a1 b1 | a4 b4 a5 b5 | …] and [a2 b2 a3 b3 | …]
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {  // r[i + j] = [a_j b_j c_j d_j | a_{4+j} … | a_{8+j} … | a_{12+j} …]
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {  // 128-bit lanes 0, 2 and 1, 3 of rows i and i + 4
    t[j] = _mm512_shuffle_f32x4(r[j], r[j + 4], 0x88);
    t[j + 4] = _mm512_shuffle_f32x4(r[j], r[j + 4], 0xdd);
    t[j + 8] = _mm512_shuffle_f32x4(r[j + 8], r[j + 12], 0x88);
    t[j + 12] = _mm512_shuffle_f32x4(r[j + 8], r[j + 12], 0xdd);
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {  // column j and j + 8
    _mm512_mask_storeu_ps(dst + j * dstride, mask, _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88));
    _mm512_mask_storeu_ps(dst + (j + 8) * dstride, mask, _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd));
  }
}

inline void V::transpose(const float* src, int64_t ld, int64_t nrows, float* dst, int64_t dstride, int lanes) {
  transpose16(src, ld, nrows, dst, dstride, mask(lanes));
}

// ---------------------------------------------------------------------------------------------- bf16 rounding
// bf16 of each lane of x in the upper 16 bits of the lane (the lower 16 are junk): round to nearest even, and NaN
// stays NaN (quieted, its payload's top bits kept), the bits of bf16_round in common.inc.
static inline __m512i bf16_round_hi(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rne = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_or_epi32(rne, nan, u, _mm512_set1_epi32(0x400000));
}

inline void V::bf16_pairs(const float* src, int64_t n, uint32_t* dst) {
  const __m512 x0 = n >= 16 ? _mm512_loadu_ps(src) : loadn(src, n);
  const __m512 x1 = n >= 32 ? _mm512_loadu_ps(src + 16) : n > 16 ? loadn(src + 16, n - 16) : zero();
  // The upper halves of the 32 lanes, in order: 16-bit elements 1, 3, …, 31 of x0 then of x1 (indices 33, …, 63).
  const __m512i odd = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27,
                                       25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  _mm512_store_si512(dst, _mm512_permutex2var_epi16(bf16_round_hi(x0), odd, bf16_round_hi(x1)));
}

inline void V::bf16_interleave(const float* lo, const float* hi, int64_t n, uint32_t* dst) {
  const __m512i l = bf16_round_hi(loadn(lo, n)), h = bf16_round_hi(loadn(hi, n));
  const __m512i w = _mm512_or_si512(_mm512_srli_epi32(l, 16), _mm512_and_si512(h, _mm512_set1_epi32(-65536)));
  _mm512_storeu_si512(dst, w);
}

static constexpr char kIsaName[] = "avx512";

#include "ops/common.inc"
#include "ops/matmul_pack.inc"

// ---------------------------------------------------------------------------------------------- micro-kernels
// C[12, 32] (+)= Ap[12, kc] · Bp[kc, 32]; accumulators are 24 named zmm registers.
#define LT_ROW(i)                                      \
  {                                                    \
    const __m512 a = _mm512_set1_ps(A[i]);             \
    c##i##_0 = _mm512_fmadd_ps(a, b0, c##i##_0);       \
    c##i##_1 = _mm512_fmadd_ps(a, b1, c##i##_1);       \
  }
#define LT_ROW_BF(i)                                                          \
  {                                                                           \
    const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(A[i]));   \
    c##i##_0 = _mm512_dpbf16_ps(c##i##_0, a, b0);                             \
    c##i##_1 = _mm512_dpbf16_ps(c##i##_1, a, b1);                             \
  }
#define LT_STORE(i)                                                                    \
  {                                                                                    \
    float* r = C + (i) * ldc;                                                          \
    if (add) {                                                                         \
      c##i##_0 = _mm512_add_ps(_mm512_loadu_ps(r), c##i##_0);                          \
      c##i##_1 = _mm512_add_ps(_mm512_loadu_ps(r + 16), c##i##_1);                     \
    }                                                                                  \
    _mm512_storeu_ps(r, c##i##_0);                                                     \
    _mm512_storeu_ps(r + 16, c##i##_1);                                                \
  }
// The C tile's rows (128 bytes, at most 3 lines each) are fetched while the k loop runs: a tile's rows are far apart
// in C, and loading them only after the loop stalls on each.
#define LT_PREFETCH_C(i)                                                       \
  {                                                                            \
    _mm_prefetch(reinterpret_cast<const char*>(C + (i) * ldc), _MM_HINT_T0);      \
    _mm_prefetch(reinterpret_cast<const char*>(C + (i) * ldc + 16), _MM_HINT_T0); \
    _mm_prefetch(reinterpret_cast<const char*>(C + (i) * ldc + 31), _MM_HINT_T0); \
  }
#define LT_DECL(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps();
#define LT_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

// Cache blocks (both kernels): a k-block of up to 1024 so the C tiles are read and written once per 1024 k rather
// than per 384 (f32) or 512 (bf16); the B micro-panel then streams from L2 (the hardware prefetcher keeps up) and the
// B block is L3's. Measured on Zen 4 (2 threads, the Llama-3.2-1B training shapes, 512 rows): f32 +3-6%, bf16
// +5-10% against KC 384 / 512; NC 2048 instead of 4096 changes nothing and halves the packed-B buffers.
struct KernF32 {
  static constexpr int MR = 12, NR = 32, KSTEP = 1;
  static constexpr int64_t KC = 1024, MC = 240, NC = 2048;
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
      const __m512 b0 = _mm512_load_ps(B), b1 = _mm512_load_ps(B + 16);
      LT_ALL(LT_ROW)
      A += MR;
      B += NR;
    }
    LT_ALL(LT_STORE)
  }
};

// bf16 weights: k-pairs packed as uint32 (activations rounded to bf16 while packing), f32 accumulation.
struct KernBf16 {
  static constexpr int MR = 12, NR = 32, KSTEP = 2;
  static constexpr int64_t KC = 1024, MC = 240, NC = 2048;
  static constexpr bool kShareB = true;  // the threads share each packed B block (matmul_driver.inc)
  static_assert(KC <= kPairSpanK, "a block format's k-block is decoded on the stack (matmul_pack.inc)");
  using PA = uint32_t;
  using PB = uint32_t;
  static void packA(uint32_t* d, const GemmArgs& g, int64_t m0, int64_t mc, int64_t k0, int64_t kc) {
    pack_a_panels<MR>(d, g, m0, mc, k0, kc);
  }
  static void packB(uint32_t* d, const GemmArgs& g, int64_t n0, int64_t nc, int64_t k0, int64_t kc) {
    pack_b_panels<NR>(d, g, n0, nc, k0, kc);
  }
  static void ukr(int64_t kp, const uint32_t* __restrict A, const uint32_t* __restrict B, float* __restrict C,
                  int64_t ldc, bool add) {
    LT_ALL(LT_PREFETCH_C)
    LT_ALL(LT_DECL)
    for (int64_t p = 0; p < kp; ++p) {
      const __m512bh b0 = (__m512bh)_mm512_load_si512(B), b1 = (__m512bh)_mm512_load_si512(B + 16);
      LT_ALL(LT_ROW_BF)
      A += MR;
      B += NR;
    }
    LT_ALL(LT_STORE)
  }
};

// Whether the CPU has AVX512_BF16 (vdpbf16ps), so bf16 weights take KernBf16 (matmul.inc).
static bool has_bf16_dot() {
  static const bool yes = __builtin_cpu_supports("avx512bf16");
  return yes;
}

// ---------------------------------------------------------------------------------------------- conversions
static void cvt_f32_bf16(uint16_t* out, const float* in, int64_t n) {
  const __m512i round = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), absm = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000), quiet = _mm512_set1_epi32(0x40);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = V::mask(n - i);
    const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, in + i));
    const __m512i rne = _mm512_srli_epi32(
        _mm512_add_epi32(u, _mm512_add_epi32(round, _mm512_and_si512(_mm512_srli_epi32(u, 16), one))), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, absm), inf);
    const __m512i r = _mm512_mask_or_epi32(rne, nan, _mm512_srli_epi32(u, 16), quiet);
    _mm256_mask_storeu_epi16(out + i, m, _mm512_cvtepi32_epi16(r));
  }
}

// vcvtph2ps quiets signalling NaNs; NaN lanes are rebuilt from the bits so every payload is kept exactly.
static void cvt_f16_f32(float* out, const uint16_t* in, int64_t n) {
  const __m512i expm = _mm512_set1_epi32(0x7c00), mantm = _mm512_set1_epi32(0x3ff), signm = _mm512_set1_epi32(0x8000);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = V::mask(n - i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, in + i);
    const __m512i w = _mm512_cvtepu16_epi32(h);
    const __mmask16 nan = _mm512_cmpeq_epi32_mask(_mm512_and_si512(w, expm), expm) &
                          _mm512_test_epi32_mask(w, mantm);
    const __m512i nan_bits = _mm512_or_si512(
        _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(w, signm), 16), _mm512_set1_epi32(0x7f800000)),
        _mm512_slli_epi32(_mm512_and_si512(w, mantm), 13));
    const __m512 f = _mm512_mask_mov_ps(_mm512_cvtph_ps(h), nan, _mm512_castsi512_ps(nan_bits));
    _mm512_mask_storeu_ps(out + i, m, f);
  }
}

static void cvt_f32_f16(uint16_t* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = V::mask(n - i);
    const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_mask_storeu_epi16(out + i, m, h);
  }
}

#include "ops/all.inc"

}  // namespace avx512

const KernelTable* avx512_kernels() { return &avx512::kTable; }
bool avx512_has_bf16_dot() { return avx512::has_bf16_dot(); }

}  // namespace lt
#endif
