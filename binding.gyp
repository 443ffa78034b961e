{
  # The native kernels addon (build/Release/loratune_native.node). The glue (native/glue/, one translation unit)
  # and the portable kernels build without ISA flags; each x86-64 ISA is a static library compiled with its own
  # flags and chosen at run time with __builtin_cpu_supports. Never -march=native: the binary must run on any
  # x86-64. Every ISA file compiles the same op sources (native/ops/*.inc, included, not listed here).
  "target_defaults": {
    "cflags_cc": ["-std=gnu++17", "-O3", "-fPIC", "-Wno-unused-parameter"],
    "defines": ["NAPI_VERSION=8"]
  },
  "targets": [
    {
      "target_name": "loratune_native",
      "sources": ["native/glue/addon.cc", "native/pool.cc", "native/isa_generic.cc"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["loratune_avx2", "loratune_avx512"] }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "loratune_avx2",
          "type": "static_library",
          "sources": ["native/isa_avx2.cc"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c"]
        },
        {
          "target_name": "loratune_avx512",
          "type": "static_library",
          "sources": ["native/isa_avx512.cc"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16", "-mfma", "-mf16c",
                        "-Wno-maybe-uninitialized", "-Wno-uninitialized"]
        }
      ]
    }]
  ]
}
