// N-API glue (the only file that knows about JavaScript): validates arguments, takes zero-copy pointers into
// TypedArrays, and calls the kernel table of the chosen ISA with a persistent thread pool.
//
// Exports: cpuIsas() → ISAs this build has and this CPU runs, best last; hasBf16Dot() → whether the avx512
// table multiplies bf16 weights with vdpbf16ps; addressMod(buffer, m) → a buffer's address mod m;
// create(isa, threads) → an object holding every Kernels method
// (positional arguments exactly as in src/kernels/types.ts). Pools and kernel objects live per Node
// environment (worker threads get their own) and are freed when it exits.
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "kernels.h"

namespace {

using lt::KernelTable;
using lt::Pool;

struct Ctx {
  const KernelTable* table;
  Pool* pool;
};

struct Instance {
  std::map<int, std::unique_ptr<Pool>> pools;  // by thread count
  std::vector<std::unique_ptr<Ctx>> ctxs;      // never freed before the environment: functions point at them
};

const KernelTable* table_for(const char* isa) {
  if (std::strcmp(isa, "generic") == 0) return lt::generic_kernels();
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (std::strcmp(isa, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return lt::avx2_kernels();
  if (std::strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return lt::avx512_kernels();
#endif
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- argument parsing
constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;

int64_t mul(int64_t a, int64_t b) {  // saturating: an impossible size fails the length check instead of wrapping
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

class Args {
 public:
  Args(napi_env env, napi_callback_info info, const char* fn, size_t expected) : env_(env), fn_(fn) {
    size_t argc = kMax;
    void* data = nullptr;
    napi_get_cb_info(env, info, &argc, argv_, nullptr, &data);
    ctx_ = static_cast<Ctx*>(data);
    if (argc < expected) fail("TypeError", "expected %zu arguments, got %zu", expected, argc);
  }
  bool ok() const { return !failed_; }
  Ctx* ctx() const { return ctx_; }
  napi_env env() const { return env_; }

  int64_t dim(size_t i, const char* name) {
    double d = num(i, name);
    if (failed_) return 0;
    if (!(d >= 0 && d <= static_cast<double>(kMaxDim)) || d != static_cast<double>(static_cast<int64_t>(d))) {
      fail("RangeError", "%s must be an integer in [0, 2^31), got %g", name, d);
      return 0;
    }
    return static_cast<int64_t>(d);
  }
  double num(size_t i, const char* name) {
    if (failed_) return 0;
    double d = 0;
    if (napi_get_value_double(env_, argv_[i], &d) != napi_ok) fail("TypeError", "%s must be a number", name);
    return d;
  }
  bool flag(size_t i, const char* name) {
    if (failed_) return false;
    bool b = false;
    if (napi_get_value_bool(env_, argv_[i], &b) != napi_ok) fail("TypeError", "%s must be a boolean", name);
    return b;
  }
  float* f32(size_t i, const char* name, int64_t need) {
    return static_cast<float*>(array(i, name, napi_float32_array, "Float32Array", need, false));
  }
  float* f32_or_null(size_t i, const char* name, int64_t need) {
    return static_cast<float*>(array(i, name, napi_float32_array, "Float32Array", need, true));
  }
  uint16_t* u16(size_t i, const char* name, int64_t need) {
    return static_cast<uint16_t*>(array(i, name, napi_uint16_array, "Uint16Array", need, false));
  }
  int32_t* i32(size_t i, const char* name, int64_t need) {
    return static_cast<int32_t*>(array(i, name, napi_int32_array, "Int32Array", need, false));
  }
  int32_t* i32_or_null(size_t i, const char* name, int64_t need) {
    return static_cast<int32_t*>(array(i, name, napi_int32_array, "Int32Array", need, true));
  }
  // Length of the TypedArray at i (after a successful parse).
  int64_t length(size_t i) {
    napi_typedarray_type type;
    size_t len = 0;
    if (napi_get_typedarray_info(env_, argv_[i], &type, &len, nullptr, nullptr, nullptr) != napi_ok) return 0;
    return static_cast<int64_t>(len);
  }

  template <class... A>
  void fail(const char* kind, const char* fmt, A... a) {
    if (failed_) return;
    failed_ = true;
    char msg[512];
    int n = std::snprintf(msg, sizeof msg, "%s: ", fn_);
    std::snprintf(msg + n, sizeof msg - n, fmt, a...);
    if (kind[0] == 'R') napi_throw_range_error(env_, "ERR_NATIVE_ARG", msg);
    else napi_throw_type_error(env_, "ERR_NATIVE_ARG", msg);
  }

 private:
  static constexpr size_t kMax = 16;

  void* array(size_t i, const char* name, napi_typedarray_type want, const char* type_name, int64_t need,
              bool nullable) {
    if (failed_) return nullptr;
    napi_valuetype vt;
    napi_typeof(env_, argv_[i], &vt);
    if (nullable && (vt == napi_null || vt == napi_undefined)) return nullptr;
    bool is_ta = false;
    napi_is_typedarray(env_, argv_[i], &is_ta);
    napi_typedarray_type type;
    size_t len = 0;
    void* data = nullptr;
    if (!is_ta || napi_get_typedarray_info(env_, argv_[i], &type, &len, &data, nullptr, nullptr) != napi_ok ||
        type != want) {
      fail("TypeError", "%s must be a %s%s", name, type_name, nullable ? " or null" : "");
      return nullptr;
    }
    if (static_cast<int64_t>(len) < need) {
      fail("RangeError", "%s has %zu elements, needs at least %lld", name, len, static_cast<long long>(need));
      return nullptr;
    }
    return data;
  }

  napi_env env_;
  const char* fn_;
  napi_value argv_[kMax] = {};
  Ctx* ctx_ = nullptr;
  bool failed_ = false;
};

// ---------------------------------------------------------------------------------------------- matmul
enum class MM { NT, NN, TN, NTBf16, NNBf16 };

template <MM kind>
napi_value matmul(napi_env env, napi_callback_info info) {
  static const char* names[] = {"matmulNT", "matmulNN", "matmulTN", "matmulNTBf16", "matmulNNBf16"};
  Args a(env, info, names[static_cast<int>(kind)], 7);
  const int64_t M = a.dim(3, "M"), N = a.dim(4, "N"), K = a.dim(5, "K");
  const bool acc = a.flag(6, "accumulate");
  lt::GemmArgs g{};
  g.M = M;
  g.N = N;
  g.K = K;
  g.C = a.f32(0, "out", mul(M, N));
  g.ldc = N;
  g.A = a.f32(1, "a", mul(M, K));
  g.transA = kind == MM::TN;
  g.lda = g.transA ? M : K;
  const bool bf16 = kind == MM::NTBf16 || kind == MM::NNBf16;
  g.B = bf16 ? static_cast<const void*>(a.u16(2, "b", mul(N, K))) : static_cast<const void*>(a.f32(2, "b", mul(N, K)));
  g.bf16B = bf16;
  g.transB = kind == MM::NT || kind == MM::NTBf16;
  g.ldb = g.transB ? K : N;
  g.accumulate = acc;
  if (!a.ok()) return nullptr;
  a.ctx()->table->gemm(*a.ctx()->pool, g);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- elementwise
napi_value add_in_place(napi_env env, napi_callback_info info) {
  Args a(env, info, "addInPlace", 3);
  const int64_t n = a.dim(2, "n");
  float* out = a.f32(0, "out", n);
  const float* x = a.f32(1, "a", n);
  if (a.ok()) a.ctx()->table->add_in_place(*a.ctx()->pool, out, x, n);
  return nullptr;
}

napi_value add_bias(napi_env env, napi_callback_info info) {
  Args a(env, info, "addBias", 4);
  const int64_t M = a.dim(2, "M"), N = a.dim(3, "N");
  float* out = a.f32(0, "out", mul(M, N));
  const float* bias = a.f32(1, "bias", N);
  if (a.ok()) a.ctx()->table->add_bias(*a.ctx()->pool, out, bias, M, N);
  return nullptr;
}

napi_value bias_backward(napi_env env, napi_callback_info info) {
  Args a(env, info, "biasBackward", 4);
  const int64_t M = a.dim(2, "M"), N = a.dim(3, "N");
  float* dbias = a.f32(0, "dbias", N);
  const float* dout = a.f32(1, "dout", mul(M, N));
  if (a.ok()) a.ctx()->table->bias_backward(*a.ctx()->pool, dbias, dout, M, N);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- RMSNorm, RoPE
napi_value rmsnorm_forward(napi_env env, napi_callback_info info) {
  Args a(env, info, "rmsnormForward", 7);
  const int64_t N = a.dim(4, "N"), C = a.dim(5, "C");
  const double eps = a.num(6, "eps");
  float* out = a.f32(0, "out", mul(N, C));
  float* rstd = a.f32(1, "rstd", N);
  const float* x = a.f32(2, "x", mul(N, C));
  const float* w = a.f32(3, "weight", C);
  if (a.ok() && C == 0 && N > 0) a.fail("RangeError", "C must be positive");
  if (a.ok()) a.ctx()->table->rmsnorm_forward(*a.ctx()->pool, out, rstd, x, w, N, C, static_cast<float>(eps));
  return nullptr;
}

napi_value rmsnorm_backward(napi_env env, napi_callback_info info) {
  Args a(env, info, "rmsnormBackward", 8);
  const int64_t N = a.dim(6, "N"), C = a.dim(7, "C");
  float* dx = a.f32(0, "dx", mul(N, C));
  float* dw = a.f32_or_null(1, "dweight", C);
  const float* dout = a.f32(2, "dout", mul(N, C));
  const float* x = a.f32(3, "x", mul(N, C));
  const float* w = a.f32(4, "weight", C);
  const float* rstd = a.f32(5, "rstd", N);
  if (a.ok()) a.ctx()->table->rmsnorm_backward(*a.ctx()->pool, dx, dw, dout, x, w, rstd, N, C);
  return nullptr;
}

template <bool backward>
napi_value rope(napi_env env, napi_callback_info info) {
  Args a(env, info, backward ? "ropeBackward" : "ropeForward", 7);
  const int64_t N = a.dim(4, "N"), H = a.dim(5, "nHeads"), hd = a.dim(6, "headDim");
  if (a.ok() && hd % 2 != 0) a.fail("RangeError", "headDim must be even, got %lld", static_cast<long long>(hd));
  const int64_t half = hd / 2;
  float* x = a.f32(0, "x", mul(mul(N, H), hd));
  const int32_t* pos = a.i32(1, "pos", N);
  const float* cs = a.f32(2, "cos", 0);
  const float* sn = a.f32(3, "sin", 0);
  if (!a.ok()) return nullptr;
  if (half > 0 && H > 0) {
    const int64_t rows_c = a.length(2) / half, rows_s = a.length(3) / half;
    const int64_t max_pos = rows_c < rows_s ? rows_c : rows_s;
    for (int64_t i = 0; i < N; ++i)
      if (pos[i] < 0 || pos[i] >= max_pos) {
        a.fail("RangeError", "pos[%lld] = %d is outside the cos/sin tables [0, %lld)", static_cast<long long>(i),
               pos[i], static_cast<long long>(max_pos));
        return nullptr;
      }
    a.ctx()->table->rope(*a.ctx()->pool, x, pos, cs, sn, N, H, hd, backward);
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- attention
bool check_heads(Args& a, int64_t nHead, int64_t nKv) {
  if (!a.ok()) return false;
  if (nKv == 0 || nHead % nKv != 0) {
    a.fail("RangeError", "nHead (%lld) must be a positive multiple of nKv (%lld)", static_cast<long long>(nHead),
           static_cast<long long>(nKv));
    return false;
  }
  return true;
}

napi_value attention_forward(napi_env env, napi_callback_info info) {
  Args a(env, info, "attentionForward", 11);
  lt::AttnArgs t{};
  t.B = a.dim(6, "B");
  t.T = a.dim(7, "T");
  t.nHead = a.dim(8, "nHead");
  t.nKv = a.dim(9, "nKv");
  t.hd = a.dim(10, "headDim");
  const int64_t rows = mul(t.B, t.T), nq = mul(mul(rows, t.nHead), t.hd), nk = mul(mul(rows, t.nKv), t.hd);
  t.out = a.f32(0, "out", nq);
  t.lse = a.f32(1, "lse", mul(rows, t.nHead));
  t.q = a.f32(2, "q", nq);
  t.k = a.f32(3, "k", nk);
  t.v = a.f32(4, "v", nk);
  t.seg = a.i32_or_null(5, "seg", rows);
  if (check_heads(a, t.nHead, t.nKv) && rows > 0 && t.hd > 0) a.ctx()->table->attention_forward(*a.ctx()->pool, t);
  return nullptr;
}

napi_value attention_backward(napi_env env, napi_callback_info info) {
  Args a(env, info, "attentionBackward", 15);
  lt::AttnArgs t{};
  t.B = a.dim(10, "B");
  t.T = a.dim(11, "T");
  t.nHead = a.dim(12, "nHead");
  t.nKv = a.dim(13, "nKv");
  t.hd = a.dim(14, "headDim");
  const int64_t rows = mul(t.B, t.T), nq = mul(mul(rows, t.nHead), t.hd), nk = mul(mul(rows, t.nKv), t.hd);
  t.dq = a.f32(0, "dq", nq);
  t.dk = a.f32(1, "dk", nk);
  t.dv = a.f32(2, "dv", nk);
  t.dout = a.f32(3, "dout", nq);
  t.q = a.f32(4, "q", nq);
  t.k = a.f32(5, "k", nk);
  t.v = a.f32(6, "v", nk);
  t.fwd_out = a.f32(7, "out", nq);
  t.fwd_lse = a.f32(8, "lse", mul(rows, t.nHead));
  t.seg = a.i32_or_null(9, "seg", rows);
  if (check_heads(a, t.nHead, t.nKv) && rows > 0 && t.hd > 0) a.ctx()->table->attention_backward(*a.ctx()->pool, t);
  return nullptr;
}

napi_value attention_kv(napi_env env, napi_callback_info info) {
  Args a(env, info, "attentionKV", 9);
  lt::AttnArgs t{};
  t.B = 1;
  t.T = a.dim(4, "Tq");
  t.pos0 = a.dim(5, "pos0");
  t.nHead = a.dim(6, "nHead");
  t.nKv = a.dim(7, "nKv");
  t.hd = a.dim(8, "headDim");
  const int64_t nq = mul(mul(t.T, t.nHead), t.hd), nk = mul(mul(t.pos0 + t.T, t.nKv), t.hd);
  t.out = a.f32(0, "out", nq);
  t.q = a.f32(1, "q", nq);
  t.k = a.f32(2, "kCache", nk);
  t.v = a.f32(3, "vCache", nk);
  if (check_heads(a, t.nHead, t.nKv) && t.T > 0 && t.hd > 0) a.ctx()->table->attention_kv(*a.ctx()->pool, t);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- SwiGLU
napi_value swiglu_forward(napi_env env, napi_callback_info info) {
  Args a(env, info, "swigluForward", 4);
  const int64_t n = a.dim(3, "n");
  float* out = a.f32(0, "out", n);
  const float* gate = a.f32(1, "gate", n);
  const float* up = a.f32(2, "up", n);
  if (a.ok()) a.ctx()->table->swiglu_forward(*a.ctx()->pool, out, gate, up, n);
  return nullptr;
}

napi_value swiglu_backward(napi_env env, napi_callback_info info) {
  Args a(env, info, "swigluBackward", 6);
  const int64_t n = a.dim(5, "n");
  float* dgate = a.f32(0, "dgate", n);
  float* dup = a.f32(1, "dup", n);
  const float* dout = a.f32(2, "dout", n);
  const float* gate = a.f32(3, "gate", n);
  const float* up = a.f32(4, "up", n);
  if (a.ok()) a.ctx()->table->swiglu_backward(*a.ctx()->pool, dgate, dup, dout, gate, up, n);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- embedding
// Checks 0 ≤ ids[i] < rows for i < N.
bool check_ids(Args& a, const int32_t* ids, int64_t N, int64_t rows, const char* what) {
  if (!a.ok()) return false;
  for (int64_t i = 0; i < N; ++i)
    if (ids[i] < 0 || ids[i] >= rows) {
      a.fail("RangeError", "ids[%lld] = %d is outside the %s [0, %lld)", static_cast<long long>(i), ids[i], what,
             static_cast<long long>(rows));
      return false;
    }
  return true;
}

template <bool bf16>
napi_value embedding_forward(napi_env env, napi_callback_info info) {
  Args a(env, info, bf16 ? "embeddingForwardBf16" : "embeddingForward", 5);
  const int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  float* out = a.f32(0, "out", mul(N, C));
  const int32_t* ids = a.i32(1, "ids", N);
  const void* table = bf16 ? static_cast<const void*>(a.u16(2, "table", 0)) : a.f32(2, "table", 0);
  if (!a.ok() || C == 0) return nullptr;
  if (!check_ids(a, ids, N, a.length(2) / C, "table rows")) return nullptr;
  if (bf16)
    a.ctx()->table->embedding_forward_bf16(*a.ctx()->pool, out, ids, static_cast<const uint16_t*>(table), N, C);
  else
    a.ctx()->table->embedding_forward(*a.ctx()->pool, out, ids, static_cast<const float*>(table), N, C);
  return nullptr;
}

napi_value embedding_backward(napi_env env, napi_callback_info info) {
  Args a(env, info, "embeddingBackward", 5);
  const int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  float* dtable = a.f32(0, "dtable", 0);
  const float* dout = a.f32(1, "dout", mul(N, C));
  const int32_t* ids = a.i32(2, "ids", N);
  if (!a.ok() || C == 0) return nullptr;
  if (!check_ids(a, ids, N, a.length(0) / C, "dtable rows")) return nullptr;
  a.ctx()->table->embedding_backward(*a.ctx()->pool, dtable, dout, ids, N, C);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- loss, optimizer
napi_value cross_entropy(napi_env env, napi_callback_info info) {
  Args a(env, info, "crossEntropy", 7);
  const int64_t N = a.dim(4, "N"), V = a.dim(5, "V");
  const double scale = a.num(6, "gradScale");
  float* losses = a.f32(0, "losses", N);
  float* dlogits = a.f32_or_null(1, "dlogits", mul(N, V));
  const float* logits = a.f32(2, "logits", mul(N, V));
  const int32_t* targets = a.i32(3, "targets", N);
  if (!a.ok()) return nullptr;
  for (int64_t i = 0; i < N; ++i)
    if (targets[i] != -100 && (targets[i] < 0 || targets[i] >= V)) {
      a.fail("RangeError", "targets[%lld] = %d is neither -100 nor in [0, %lld)", static_cast<long long>(i),
             targets[i], static_cast<long long>(V));
      return nullptr;
    }
  const double total =
      a.ctx()->table->cross_entropy(*a.ctx()->pool, losses, dlogits, logits, targets, N, V, static_cast<float>(scale));
  napi_value result;
  napi_create_double(env, total, &result);
  return result;
}

napi_value adamw(napi_env env, napi_callback_info info) {
  Args a(env, info, "adamw", 11);
  const int64_t n = a.dim(4, "n");
  const double lr = a.num(5, "lr"), b1 = a.num(6, "beta1"), b2 = a.num(7, "beta2"), eps = a.num(8, "eps");
  const double wd = a.num(9, "weightDecay");
  const int64_t step = a.dim(10, "step");
  float* p = a.f32(0, "param", n);
  const float* g = a.f32(1, "grad", n);
  float* m = a.f32(2, "m", n);
  float* v = a.f32(3, "v", n);
  if (a.ok() && step < 1) a.fail("RangeError", "step counts from 1, got %lld", static_cast<long long>(step));
  if (!a.ok()) return nullptr;
  lt::AdamArgs args{};
  args.beta1 = static_cast<float>(b1);
  args.beta2 = static_cast<float>(b2);
  args.eps = static_cast<float>(eps);
  args.one_minus_beta1 = static_cast<float>(1.0 - b1);
  args.one_minus_beta2 = static_cast<float>(1.0 - b2);
  args.decay = static_cast<float>(1.0 - lr * wd);
  args.step_size = static_cast<float>(lr / (1.0 - std::pow(b1, static_cast<double>(step))));
  args.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(b2, static_cast<double>(step))));
  a.ctx()->table->adamw(*a.ctx()->pool, p, g, m, v, n, args);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- conversions
template <int which>
napi_value convert(napi_env env, napi_callback_info info) {
  static const char* names[] = {"bf16ToF32", "f32ToBf16", "f16ToF32", "f32ToF16"};
  Args a(env, info, names[which], 3);
  const int64_t n = a.dim(2, "n");
  Ctx* c = a.ctx();
  if (which == 0 || which == 2) {
    float* out = a.f32(0, "out", n);
    const uint16_t* in = a.u16(1, "inp", n);
    if (a.ok()) (which == 0 ? c->table->bf16_to_f32 : c->table->f16_to_f32)(*c->pool, out, in, n);
  } else {
    uint16_t* out = a.u16(0, "out", n);
    const float* in = a.f32(1, "inp", n);
    if (a.ok()) (which == 1 ? c->table->f32_to_bf16 : c->table->f32_to_f16)(*c->pool, out, in, n);
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------- module
struct Method {
  const char* name;
  napi_callback cb;
};

const Method kMethods[] = {
    {"matmulNT", matmul<MM::NT>},
    {"matmulNN", matmul<MM::NN>},
    {"matmulTN", matmul<MM::TN>},
    {"matmulNTBf16", matmul<MM::NTBf16>},
    {"matmulNNBf16", matmul<MM::NNBf16>},
    {"addInPlace", add_in_place},
    {"addBias", add_bias},
    {"biasBackward", bias_backward},
    {"rmsnormForward", rmsnorm_forward},
    {"rmsnormBackward", rmsnorm_backward},
    {"ropeForward", rope<false>},
    {"ropeBackward", rope<true>},
    {"attentionForward", attention_forward},
    {"attentionBackward", attention_backward},
    {"attentionKV", attention_kv},
    {"swigluForward", swiglu_forward},
    {"swigluBackward", swiglu_backward},
    {"embeddingForward", embedding_forward<false>},
    {"embeddingForwardBf16", embedding_forward<true>},
    {"embeddingBackward", embedding_backward},
    {"crossEntropy", cross_entropy},
    {"adamw", adamw},
    {"bf16ToF32", convert<0>},
    {"f32ToBf16", convert<1>},
    {"f16ToF32", convert<2>},
    {"f32ToF16", convert<3>},
};

napi_value cpu_isas(napi_env env, napi_callback_info) {
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t i = 0;
  for (const char* isa : {"generic", "avx2", "avx512"}) {
    if (!table_for(isa)) continue;
    napi_value s;
    napi_create_string_utf8(env, isa, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, i++, s);
  }
  return arr;
}

napi_value has_bf16_dot(napi_env env, napi_callback_info) {
  bool yes = false;
#if defined(__x86_64__)
  yes = table_for("avx512") != nullptr && lt::avx512_has_bf16_dot();
#endif
  napi_value r;
  napi_get_boolean(env, yes, &r);
  return r;
}

// addressMod(buffer: ArrayBuffer, m: number) → (address of the buffer's first byte) mod m, so JavaScript can
// place a typed-array view at an m-byte boundary (src/kernels/aligned.ts).
napi_value address_mod(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool is_ab = false;
  void* data = nullptr;
  size_t len = 0;
  double m = 0;
  if (argc < 2 || napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok ||
      napi_get_value_double(env, argv[1], &m) != napi_ok || !(m >= 1 && m <= 4096) ||
      m != static_cast<double>(static_cast<int>(m))) {
    napi_throw_type_error(env, "ERR_NATIVE_ARG", "addressMod(buffer: ArrayBuffer, m: integer in [1, 4096])");
    return nullptr;
  }
  napi_value r;
  napi_create_uint32(env, static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(m)), &r);
  return r;
}

// create(isa: string, threads: number) → object of kernel methods bound to that ISA and a pool of that size.
napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char isa[32] = {0};
  size_t len = 0;
  double threads = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], isa, sizeof isa, &len) != napi_ok ||
      napi_get_value_double(env, argv[1], &threads) != napi_ok) {
    napi_throw_type_error(env, "ERR_NATIVE_ARG", "create(isa: string, threads: number)");
    return nullptr;
  }
  const KernelTable* table = table_for(isa);
  if (!table) {
    napi_throw_error(env, "ERR_NATIVE_ISA", "this build or CPU does not support the requested ISA");
    return nullptr;
  }
  if (!(threads >= 1 && threads <= 1024) || threads != static_cast<double>(static_cast<int>(threads))) {
    napi_throw_range_error(env, "ERR_NATIVE_ARG", "threads must be an integer in [1, 1024]");
    return nullptr;
  }
  Instance* inst = nullptr;
  napi_get_instance_data(env, reinterpret_cast<void**>(&inst));
  auto& pool = inst->pools[static_cast<int>(threads)];
  if (!pool) pool = std::make_unique<Pool>(static_cast<int>(threads));
  inst->ctxs.push_back(std::make_unique<Ctx>(Ctx{table, pool.get()}));
  Ctx* ctx = inst->ctxs.back().get();

  napi_value obj;
  napi_create_object(env, &obj);
  for (const Method& m : kMethods) {
    napi_value fn;
    napi_create_function(env, m.name, NAPI_AUTO_LENGTH, m.cb, ctx, &fn);
    napi_set_named_property(env, obj, m.name, fn);
  }
  return obj;
}

void finalize_instance(napi_env, void* data, void*) { delete static_cast<Instance*>(data); }

}  // namespace

NAPI_MODULE_INIT() {
  napi_set_instance_data(env, new Instance(), finalize_instance, nullptr);
  const Method fns[] = {
      {"cpuIsas", cpu_isas}, {"hasBf16Dot", has_bf16_dot}, {"addressMod", address_mod}, {"create", create}};
  for (const Method& m : fns) {
    napi_value fn;
    napi_create_function(env, m.name, NAPI_AUTO_LENGTH, m.cb, nullptr, &fn);
    napi_set_named_property(env, exports, m.name, fn);
  }
  return exports;
}
