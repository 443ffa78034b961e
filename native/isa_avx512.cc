// AVX-512 kernels (F, BW, VL, DQ; BF16 dot products when the CPU has them). Compiled with the AVX-512 flags
// only; the glue calls into it only after __builtin_cpu_supports says the CPU has them.
// f32 matmul micro-kernel: 12×32 register tile (24 zmm accumulators); bf16: vdpbf16ps on k-pairs, f32 sums.
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
};

#include "scalar.inc"
#include "pack.inc"
#include "gemm.inc"
#include "gemm_thin.inc"

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
#define LT_DECL(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps();
#define LT_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

// ---------------------------------------------------------------------------------------------- transposing packs
// NT products read both operands along k, so packing transposes them. Scalar packing costs ~10% of an NT product;
// these do it 16×16 at a time in registers.

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

// A block of an NT/NN product (A stored [M, K]) as 12-row panels: dst[k·12 + r].
static void pack_a_rows(float* __restrict dst, const GemmArgs& g, int64_t m0, int64_t mc, int64_t k0, int64_t kc) {
  for (int64_t ir = 0; ir < mc; ir += 12) {
    const int64_t mr = imin(12, mc - ir);
    const float* src = g.A + (m0 + ir) * g.lda + k0;
    float* d = dst + ir * kc;
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) transpose16(src + k, g.lda, mr, d + k * 12, 12, 0x0fff);
    for (; k < kc; ++k)
      for (int64_t r = 0; r < 12; ++r) d[k * 12 + r] = r < mr ? src[r * g.lda + k] : 0.f;
  }
}

// B block of an NT product (B stored [N, K], f32) as 32-column panels: dst[k·32 + j].
static void pack_b_rows(float* __restrict dst, const GemmArgs& g, int64_t n0, int64_t nc, int64_t k0, int64_t kc) {
  const float* b = static_cast<const float*>(g.B);
  for (int64_t jr = 0; jr < nc; jr += 32) {
    float* d = dst + jr * kc;
    for (int64_t half = 0; half < 32; half += 16) {
      const int64_t rows = imax(0, imin(16, nc - jr - half));
      const float* src = b + (n0 + jr + half) * g.ldb + k0;
      int64_t k = 0;
      for (; k + 16 <= kc; k += 16) transpose16(src + k, g.ldb, rows, d + k * 32 + half, 32, 0xffff);
      for (; k < kc; ++k)
        for (int64_t j = 0; j < 16; ++j) d[k * 32 + half + j] = j < rows ? src[j * g.ldb + k] : 0.f;
    }
  }
}

// bf16 B block of an NT product as 32-column panels of k-pairs: a pair is one 32-bit word of a row of B.
static void pack_b_rows_pairs(uint32_t* __restrict dst, const GemmArgs& g, int64_t n0, int64_t nc, int64_t k0,
                              int64_t kc) {
  const uint16_t* b = static_cast<const uint16_t*>(g.B);
  const int64_t kp = ceil_div(kc, 2), full = kc / 2;
  for (int64_t jr = 0; jr < nc; jr += 32) {
    uint32_t* d = dst + jr * kp;
    for (int64_t half = 0; half < 32; half += 16) {
      const int64_t rows = imax(0, imin(16, nc - jr - half));
      const uint16_t* src = b + (n0 + jr + half) * g.ldb + k0;
      int64_t p = 0;
      for (; p + 16 <= full; p += 16)  // 16 rows × 16 pairs, as floats: only bits are moved
        transpose16(reinterpret_cast<const float*>(src + 2 * p), g.ldb / 2, rows,
                    reinterpret_cast<float*>(d + p * 32 + half), 32, 0xffff);
      for (; p < kp; ++p)
        for (int64_t j = 0; j < 16; ++j) {
          const uint16_t* row = src + j * g.ldb + 2 * p;
          const uint32_t lo = j < rows ? row[0] : 0u, hi = j < rows && 2 * p + 1 < kc ? row[1] : 0u;
          d[p * 32 + half + j] = lo | (hi << 16);
        }
    }
  }
}

struct KernF32 {
  static constexpr int MR = 12, NR = 32, KSTEP = 1;
  static constexpr int64_t KC = 384, MC = 240, NC = 4096;
  using PA = float;
  using PB = float;
  static void packA(float* d, const GemmArgs& g, int64_t m0, int64_t mc, int64_t k0, int64_t kc) {
    if (g.transA) pack_a_block_f32<MR>(d, g, m0, mc, k0, kc);
    else pack_a_rows(d, g, m0, mc, k0, kc);
  }
  static void packB(float* d, const GemmArgs& g, int64_t n0, int64_t nc, int64_t k0, int64_t kc) {
    if (g.transB && !g.bf16B) pack_b_rows(d, g, n0, nc, k0, kc);
    else pack_b_block_f32<NR>(d, g, n0, nc, k0, kc);
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
  static constexpr int64_t KC = 512, MC = 240, NC = 4096;
  using PA = uint32_t;
  using PB = uint32_t;
  static void packA(uint32_t* d, const GemmArgs& g, int64_t m0, int64_t mc, int64_t k0, int64_t kc) {
    pack_a_block_pairs<MR>(d, g, m0, mc, k0, kc);
  }
  static void packB(uint32_t* d, const GemmArgs& g, int64_t n0, int64_t nc, int64_t k0, int64_t kc) {
    if (g.transB && g.ldb % 2 == 0) pack_b_rows_pairs(d, g, n0, nc, k0, kc);
    else pack_b_block_pairs<NR>(d, g, n0, nc, k0, kc);
  }
  static void ukr(int64_t kp, const uint32_t* __restrict A, const uint32_t* __restrict B, float* __restrict C,
                  int64_t ldc, bool add) {
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

#include "ops.inc"
#include "attention.inc"

static bool has_bf16_dot() {
  static const bool yes = __builtin_cpu_supports("avx512bf16");
  return yes;
}

static void k_gemm(Pool& pool, const GemmArgs& g) {
  if (gemm_is_small(g)) gemm_small(pool, g);
  else if (gemm_is_skinny(g)) gemm_skinny(pool, g);
  else if (g.bf16B && has_bf16_dot()) gemm_packed<KernBf16>(pool, g);
  else gemm_packed<KernF32>(pool, g);
}

static const KernelTable kTable = {
    "avx512",          k_gemm,         k_add_in_place,      k_add_bias,         k_bias_backward,
    k_rmsnorm_forward, k_rmsnorm_backward, k_rope,          k_attention_forward, k_attention_backward,
    k_attention_kv,    k_swiglu_forward, k_swiglu_backward, k_embedding_forward, k_embedding_forward_bf16,
    k_embedding_backward, k_cross_entropy, k_adamw,          k_bf16_to_f32,      k_f32_to_bf16,
    k_f16_to_f32,      k_f32_to_f16,
};

}  // namespace avx512

const KernelTable* avx512_kernels() { return &avx512::kTable; }
bool avx512_has_bf16_dot() { return avx512::has_bf16_dot(); }

}  // namespace lt
#endif
