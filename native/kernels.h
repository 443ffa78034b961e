// The per-ISA kernel table: plain function pointers on raw pointers, filled by the one initialiser in ops/all.inc,
// which each ISA translation unit (isa_generic.cc, isa_avx2.cc, isa_avx512.cc) compiles with its own flags, and called
// by the N-API glue (glue/addon.cc) after validation. Dimensions are int64_t; every pointer has been checked to hold
// the elements the kernel touches.
#pragma once

#include <cstdint>

#include "pool.h"

namespace lt {

// ---------------------------------------------------------------------------------------------- weight formats
// The formats a base weight may be stored in (the registry of src/tensor/formats/), by id: ggml's type number, as
// JavaScript passes it. Each has reading routines in ops/formats.inc; the glue checks a weight's TypedArray against
// its entry here (element_bytes: 4 Float32Array, 2 Uint16Array, 1 Uint8Array). A format's rows are whole blocks.
enum WeightFormatId : int32_t {
  kFmtF32 = 0,
  kFmtF16 = 1,
  kFmtQ4_0 = 2,
  kFmtQ8_0 = 8,
  kFmtQ4K = 12,
  kFmtQ5K = 13,
  kFmtQ6K = 14,
  kFmtBf16 = 30,
};

struct WeightFormatInfo {
  int32_t id;
  const char* name;
  int64_t block_values, block_bytes, element_bytes;
};

inline constexpr WeightFormatInfo kWeightFormats[] = {
    {kFmtF32, "f32", 1, 4, 4},
    {kFmtBf16, "bf16", 1, 2, 2},
    {kFmtF16, "f16", 1, 2, 2},
    {kFmtQ8_0, "q8_0", 32, 34, 1},
    {kFmtQ4_0, "q4_0", 32, 18, 1},
    {kFmtQ4K, "q4_k", 256, 144, 1},
    {kFmtQ5K, "q5_k", 256, 176, 1},
    {kFmtQ6K, "q6_k", 256, 210, 1},
};

// The entry of format `id`, or null when this build does not know it.
inline const WeightFormatInfo* weight_format_info(int32_t id) {
  for (const WeightFormatInfo& f : kWeightFormats)
    if (f.id == id) return &f;
  return nullptr;
}

// C[M,N] (+)= op(A)·op(B) on strided row-major storage.
//   transA=false: A(m,k) = A[m*lda + k]   (A stored [M,K]);  transA=true: A(m,k) = A[k*lda + m]  (stored [K,M])
//   transB=true:  B(k,n) = B[n*ldb + k]   (B stored [N,K]);  transB=false: B(k,n) = B[k*ldb + n] (stored [K,N])
// B holds values in weight format fmtB (kFmtF32 for activations); ldb counts values.
struct GemmArgs {
  int64_t M, N, K;
  const float* A;
  int64_t lda;
  bool transA;
  const void* B;
  int64_t ldb;
  bool transB;
  int32_t fmtB;
  float* C;
  int64_t ldc;
  bool accumulate;
  // A block-format B widened to f32 exactly even where the CPU has a bf16 dot product (else its values are rounded
  // to bf16 and the product runs on the bf16 kernel; ops/matmul.inc). Set per kernels instance (create's blockCompute).
  bool exactBlocks;
};

// Causal grouped-query attention on q[B*T, nHead*hd], k/v[B*T, nKv*hd] (see src/kernels/types.ts).
// attentionKV uses B=1, T=Tq queries at positions pos0.., and caches of at least pos0+Tq rows.
struct AttnArgs {
  float* out;
  float* lse;
  const float* q;
  const float* k;
  const float* v;
  const int32_t* seg;  // nullable
  float* dq;
  float* dk;
  float* dv;
  const float* dout;
  const float* fwd_out;  // the forward's out (backward only)
  const float* fwd_lse;  // the forward's lse (backward only)
  int64_t B, T, nHead, nKv, hd;
  int64_t pos0;  // attentionKV: position of the first query
};

// AdamW step with the scalar factors precomputed in double by the glue.
struct AdamArgs {
  float beta1, beta2, eps;
  float one_minus_beta1, one_minus_beta2;  // rounded from double (1 - float(beta) would be off by ~1e-5)
  float decay;         // 1 - lr*weightDecay
  float step_size;     // lr / (1 - beta1^step)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^step)
};

struct KernelTable {
  const char* isa;
  void (*gemm)(Pool&, const GemmArgs&);
  // out[N] (+)= x[K]·W[N,K]ᵀ for a Q8_0, Q4_0, Q4_K, Q5_K or Q6_K W, x quantized to 8-bit blocks first
  // (ops/matvec_q8.inc).
  void (*matvec_q8)(Pool&, float* out, const float* x, const void* w, int32_t fmt, int64_t N, int64_t K,
                    bool accumulate);
  void (*add_in_place)(Pool&, float* out, const float* a, int64_t n);
  void (*add_bias)(Pool&, float* out, const float* bias, int64_t M, int64_t N);
  void (*bias_backward)(Pool&, float* dbias, const float* dout, int64_t M, int64_t N);
  void (*rmsnorm_forward)(Pool&, float* out, float* rstd, const float* x, const float* w, int64_t N, int64_t C,
                          float eps);
  void (*rmsnorm_backward)(Pool&, float* dx, float* dw, const float* dout, const float* x, const float* w,
                           const float* rstd, int64_t N, int64_t C);
  void (*rope)(Pool&, float* x, const int32_t* pos, const float* cos, const float* sin, int64_t N, int64_t nHeads,
               int64_t hd, bool backward);
  void (*attention_forward)(Pool&, const AttnArgs&);
  void (*attention_backward)(Pool&, const AttnArgs&);
  void (*attention_kv)(Pool&, const AttnArgs&);
  void (*swiglu_forward)(Pool&, float* out, const float* gate, const float* up, int64_t n);
  void (*swiglu_backward)(Pool&, float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                          int64_t n);
  void (*embedding_forward)(Pool&, float* out, const int32_t* ids, const void* table, int32_t fmt, int64_t N,
                            int64_t C);
  void (*embedding_backward)(Pool&, float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C);
  double (*cross_entropy)(Pool&, float* losses, float* dlogits, const float* logits, const int32_t* targets,
                          int64_t N, int64_t V, float grad_scale);
  void (*adamw)(Pool&, float* param, const float* grad, float* m, float* v, int64_t n, const AdamArgs&);
  void (*zero)(Pool&, float* out, int64_t n);
  void (*copy)(Pool&, float* out, const float* a, int64_t n);
  void (*scale)(Pool&, float* out, int64_t n, double s);
  void (*axpy)(Pool&, float* out, const float* a, int64_t n, double s);
  void (*mul)(Pool&, float* out, const float* a, const float* b, int64_t n);
  void (*add_mul)(Pool&, float* out, const float* a, const float* b, int64_t n);
  double (*sum_squares)(Pool&, const float* a, int64_t n, double acc);
  double (*sum)(Pool&, const float* a, int64_t n);
  int64_t (*first_non_finite)(Pool&, const float* a, int64_t n);
  void (*weight_to_f32)(Pool&, float* out, const void* b, int32_t fmt, int64_t n);
  void (*weight_from_f32)(Pool&, void* b, int32_t fmt, const float* in, int64_t n);
  void (*bf16_to_f32)(Pool&, float* out, const uint16_t* in, int64_t n);
  void (*f32_to_bf16)(Pool&, uint16_t* out, const float* in, int64_t n);
  void (*f16_to_f32)(Pool&, float* out, const uint16_t* in, int64_t n);
  void (*f32_to_f16)(Pool&, uint16_t* out, const float* in, int64_t n);
};

const KernelTable* generic_kernels();
#if defined(__x86_64__)
const KernelTable* avx2_kernels();
const KernelTable* avx512_kernels();
// Whether the avx512 table uses vdpbf16ps for bf16 weights (the CPU has AVX512_BF16).
bool avx512_has_bf16_dot();
#endif

}  // namespace lt
