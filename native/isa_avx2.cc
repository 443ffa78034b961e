// AVX2 + FMA + F16C kernels. Compiled with those flags only; used after __builtin_cpu_supports confirms them.
// What an ISA file holds and in which order: see isa_generic.cc. Here: 8-lane V with an 8×8 transpose for the NT
// packs; f32 matmul micro-kernel with a 6×16 register tile (12 ymm accumulators); bf16 weights are widened to f32
// while packing (exact), so bf16 products keep full f32 activations; F16C conversions.
#if defined(__x86_64__)
#include <immintrin.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace lt {
namespace avx2 {

// ---------------------------------------------------------------------------------------------- vector helpers
struct V {
  using T = __m256;
  static constexpr int64_t W = 8;
  static inline __m256i mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static inline T load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static inline T loadn(const float* p, int64_t n) { return n >= W ? load(p) : _mm256_maskload_ps(p, mask(n)); }
  static inline void storen(float* p, int64_t n, T v) {
    if (n >= W) store(p, v);
    else _mm256_maskstore_ps(p, mask(n), v);
  }
  static inline T keepn(T v, int64_t n) { return n >= W ? v : _mm256_and_ps(v, _mm256_castsi256_ps(mask(n))); }
  static inline T widen_bf16(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  static inline T load_bf16(const uint16_t* p) { return widen_bf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static inline T loadn_bf16(const uint16_t* p, int64_t n) {
    if (n >= W) return load_bf16(p);
    alignas(16) uint16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < n; ++i) t[i] = p[i];
    return widen_bf16(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
  }
  static inline void load_bf16_split(const uint16_t* p, T* even, T* odd) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    *odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(-65536)));
  }
  static inline T zero() { return _mm256_setzero_ps(); }
  static inline T set1(float x) { return _mm256_set1_ps(x); }
  static inline T add(T a, T b) { return _mm256_add_ps(a, b); }
  static inline T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static inline T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static inline T div(T a, T b) { return _mm256_div_ps(a, b); }
  static inline T max(T a, T b) { return _mm256_max_ps(a, b); }
  static inline T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static inline T fnmadd(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  static inline T sqrt(T a) { return _mm256_sqrt_ps(a); }
  static inline float hsum(T a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline float hmax(T a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // exp(x) as in the AVX-512 file: ≤ 2 ulp, 0 below -87.5 (and -inf), NaN stays NaN.
  static inline T exp(T x) {
    const T tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.5f), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_set1_ps(88.f), _mm256_max_ps(_mm256_set1_ps(-87.5f), x));
    const T n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    T r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    T p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tiny, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
  }
  // The NT packs (matmul_pack.inc) transpose 8×8 tiles in registers: see transpose8 below.
  static constexpr bool kTransposePacks = true;
  static inline void transpose(const float* src, int64_t ld, int64_t nrows, float* dst, int64_t dstride, int lanes);
};

// ---------------------------------------------------------------------------------------------- transpose tile
// Transposes an 8×8 tile of floats: row i < nrows from src + i·ld (zero rows beyond), column c stored to
// dst + c·dstride, the first `lanes` values only.
static inline void transpose8(const float* src, int64_t ld, int64_t nrows, float* dst, int64_t dstride, int lanes) {
  __m256 r[8], t[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) r[i] = i < nrows ? _mm256_loadu_ps(src + i * ld) : _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {  // r[i + j] = [a_j b_j c_j d_j | a_{4+j} b_{4+j} c_{4+j} d_{4+j}]
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  const __m256i mask = V::mask(lanes);
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m256 lo = _mm256_permute2f128_ps(r[j], r[j + 4], 0x20), hi = _mm256_permute2f128_ps(r[j], r[j + 4], 0x31);
    if (lanes == 8) {
      _mm256_storeu_ps(dst + j * dstride, lo);
      _mm256_storeu_ps(dst + (j + 4) * dstride, hi);
    } else {
      _mm256_maskstore_ps(dst + j * dstride, mask, lo);
      _mm256_maskstore_ps(dst + (j + 4) * dstride, mask, hi);
    }
  }
}

inline void V::transpose(const float* src, int64_t ld, int64_t nrows, float* dst, int64_t dstride, int lanes) {
  transpose8(src, ld, nrows, dst, dstride, lanes);
}

static constexpr char kIsaName[] = "avx2";

#include "ops/common.inc"
#include "ops/matmul_pack.inc"

// ---------------------------------------------------------------------------------------------- micro-kernel
// C[6, 16] (+)= Ap[6, kc] · Bp[kc, 16]; accumulators are 12 named ymm registers.
#define LT_ROW(i)                                   \
  {                                                 \
    const __m256 a = _mm256_broadcast_ss(A + (i));  \
    c##i##_0 = _mm256_fmadd_ps(a, b0, c##i##_0);    \
    c##i##_1 = _mm256_fmadd_ps(a, b1, c##i##_1);    \
  }
#define LT_STORE(i)                                                \
  {                                                                \
    float* r = C + (i) * ldc;                                      \
    if (add) {                                                     \
      c##i##_0 = _mm256_add_ps(_mm256_loadu_ps(r), c##i##_0);      \
      c##i##_1 = _mm256_add_ps(_mm256_loadu_ps(r + 8), c##i##_1);  \
    }                                                              \
    _mm256_storeu_ps(r, c##i##_0);                                 \
    _mm256_storeu_ps(r + 8, c##i##_1);                             \
  }
#define LT_DECL(i) __m256 c##i##_0 = _mm256_setzero_ps(), c##i##_1 = _mm256_setzero_ps();
#define LT_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5)

struct KernF32 {
  static constexpr int MR = 6, NR = 16, KSTEP = 1;
  static constexpr int64_t KC = 384, MC = 240, NC = 4096;
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
      const __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
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
  const __m256i round = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1), absm = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000), quiet = _mm256_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(in + i));
    const __m256i rne = _mm256_srli_epi32(
        _mm256_add_epi32(u, _mm256_add_epi32(round, _mm256_and_si256(_mm256_srli_epi32(u, 16), one))), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);  // |u| fits in int32: signed compare ok
    const __m256i r = _mm256_blendv_epi8(rne, _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet), nan);
    // pack 8 × u32 (each < 2^16) into 8 × u16
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), packed);
  }
  for (; i < n; ++i) out[i] = bf16_round(in[i]);
}

// vcvtph2ps quiets signalling NaNs; NaN lanes are rebuilt from the bits so every payload is kept exactly.
static void cvt_f16_f32(float* out, const uint16_t* in, int64_t n) {
  const __m256i expm = _mm256_set1_epi32(0x7c00), mantm = _mm256_set1_epi32(0x3ff), signm = _mm256_set1_epi32(0x8000);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m256i w = _mm256_cvtepu16_epi32(h);
    const __m256i mant = _mm256_and_si256(w, mantm);
    const __m256i nan = _mm256_andnot_si256(_mm256_cmpeq_epi32(mant, _mm256_setzero_si256()),
                                            _mm256_cmpeq_epi32(_mm256_and_si256(w, expm), expm));
    const __m256i nan_bits = _mm256_or_si256(
        _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(w, signm), 16), _mm256_set1_epi32(0x7f800000)),
        _mm256_slli_epi32(mant, 13));
    const __m256 f = _mm256_blendv_ps(_mm256_cvtph_ps(h), _mm256_castsi256_ps(nan_bits), _mm256_castsi256_ps(nan));
    _mm256_storeu_ps(out + i, f);
  }
  for (; i < n; ++i) out[i] = f16_value(in[i]);
}

static void cvt_f32_f16(uint16_t* out, const float* in, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) out[i] = f16_round(in[i]);
}

#include "ops/all.inc"

}  // namespace avx2

const KernelTable* avx2_kernels() { return &avx2::kTable; }

}  // namespace lt
#endif
