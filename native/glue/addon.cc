// N-API glue: the one translation unit that knows about JavaScript (this file and the glue/*.inc it includes;
// compiled without ISA flags). The wrappers validate arguments, take zero-copy pointers into TypedArrays, and call
// the kernel table (kernels.h) of the chosen ISA with a persistent thread pool. This file holds the module: the
// ISA choice, the exported functions, and the method list every kernel object carries.
//
// Exports: cpuIsas() → ISAs this build has and this CPU runs, best last; hasBf16Dot() → whether the avx512
// table multiplies bf16 weights with vdpbf16ps; addressMod(buffer, m) → a buffer's address mod m;
// adviseHugePages(buffer, bytes) and mapLargeAllocations(bytes): large weights on huge pages (memory.inc);
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

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "../kernels.h"

namespace {

using lt::KernelTable;
using lt::Pool;

// What a kernel method is bound to (its napi data): the ISA's kernel table and the pool it runs on.
struct Ctx {
  const KernelTable* table;
  Pool* pool;
  bool exactBlocks;  // blockCompute "f32": block-format weights widened to f32 exactly (GemmArgs::exactBlocks)
};

// Per Node environment (napi instance data): one pool per thread count, and every Ctx handed out.
struct Instance {
  std::map<int, std::unique_ptr<Pool>> pools;  // by thread count
  std::vector<std::unique_ptr<Ctx>> ctxs;      // never freed before the environment: functions point at them
};

// The table of `isa` when this build has it and this CPU runs it, else null.
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

#include "args.inc"

// The wrappers, one file per op family (mirroring src/kernels/ref/ and ops/*.inc).
#include "matmul.inc"
#include "elementwise.inc"
#include "rmsnorm.inc"
#include "rope.inc"
#include "attention.inc"
#include "swiglu.inc"
#include "embedding.inc"
#include "cross_entropy.inc"
#include "memory.inc"
#include "adamw.inc"
#include "vector.inc"
#include "convert.inc"

// ---------------------------------------------------------------------------------------------- module
struct Method {
  const char* name;
  napi_callback cb;
};

const Method kMethods[] = {
    {"matmulNT", matmul<MM::NT>},
    {"matmulNN", matmul<MM::NN>},
    {"matmulTN", matmul<MM::TN>},
    {"matmulWNT", matmul<MM::WNT>},
    {"matmulWNN", matmul<MM::WNN>},
    {"matvecWQ8", matvec_q8},
    {"embeddingWForward", embedding_forward},
    {"weightToF32", weight_to_f32},
    {"weightFromF32", weight_from_f32},
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
    {"embeddingBackward", embedding_backward},
    {"crossEntropy", cross_entropy},
    {"adamw", adamw},
    {"zero", zero},
    {"copy", copy},
    {"scale", scale},
    {"axpy", axpy},
    {"mul", product<false>},
    {"addMul", product<true>},
    {"sumSquares", sum_squares},
    {"sum", sum_values},
    {"firstNonFinite", first_non_finite},
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

// create(isa: string, threads: number, blockCompute?: "bf16" | "f32") → object of kernel methods bound to that ISA
// and a pool of that size; blockCompute (default "bf16") is how block-format weights multiply where the CPU has a
// bf16 dot product: rounded to bf16 on it, or widened to f32 exactly.
napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char isa[32] = {0}, compute[8] = "bf16";
  size_t len = 0;
  double threads = 0;
  napi_valuetype third = napi_undefined;
  if (argc >= 3) napi_typeof(env, argv[2], &third);
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], isa, sizeof isa, &len) != napi_ok ||
      napi_get_value_double(env, argv[1], &threads) != napi_ok ||
      (third != napi_undefined &&
       napi_get_value_string_utf8(env, argv[2], compute, sizeof compute, &len) != napi_ok) ||
      (std::strcmp(compute, "bf16") != 0 && std::strcmp(compute, "f32") != 0)) {
    napi_throw_type_error(env, "ERR_NATIVE_ARG", "create(isa: string, threads: number, blockCompute?: \"bf16\" | \"f32\")");
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
  inst->ctxs.push_back(std::make_unique<Ctx>(Ctx{table, pool.get(), std::strcmp(compute, "f32") == 0}));
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
      {"cpuIsas", cpu_isas}, {"hasBf16Dot", has_bf16_dot}, {"addressMod", address_mod},
      {"adviseHugePages", advise_huge_pages}, {"mapLargeAllocations", map_large_allocations}, {"create", create}};
  for (const Method& m : fns) {
    napi_value fn;
    napi_create_function(env, m.name, NAPI_AUTO_LENGTH, m.cb, nullptr, &fn);
    napi_set_named_property(env, exports, m.name, fn);
  }
  return exports;
}
