/**
 * `npm run bench:kernels`: GFLOP/s of every native matmul variant on the shapes of LoRA training on SmolLM2-135M
 * (M = 1024 tokens; K, N from {576, 1536, 49152}) and 1024³, per ISA and thread count, next to OpenBLAS sgemm
 * (numpy under /usr/bin/python3, when it has numpy) on the same shapes in the same run, with the ratio.
 *
 * Each forward shape x[M,K]·W[N,K]ᵀ brings its backward shapes: NT (M,N,K) and NTBf16 for the forward,
 * NN (M,K,N) and NNBf16 for dx = dy·W, TN (N,K,M) for dW = dyᵀ·x. The Bf16 rows are the weight entries
 * (matmulWNT, matmulWNN) with bf16 weights. OpenBLAS runs the f32 product of the same
 * shape for every row (the bf16 rows show the gain of bf16 weights over f32 sgemm). Medians of several runs.
 *
 * Options: --isa=avx512,avx2 (default: every ISA the CPU has; generic only runs 1024³, it is ~20× slower)
 *          --threads=1,2 (default: 1 and every core)   --no-blas   --python=/usr/bin/python3
 * The environment passes through to python: Debian's OpenBLAS 0.3.21 picks its Haswell (AVX2) kernels on this
 * Zen 4; OPENBLAS_CORETYPE=SkylakeX makes it use its AVX-512 kernels instead.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import {
  createNativeKernels,
  type NativeIsa,
  nativeIsas,
  nativeUnavailableReason,
} from "../src/kernels/native/index.ts";
import type { Kernels } from "../src/kernels/types.ts";

type Variant = "matmulNT" | "matmulNTBf16" | "matmulNN" | "matmulNNBf16" | "matmulTN";
interface Case {
  variant: Variant;
  M: number;
  N: number;
  K: number;
}

/** Forward shapes [M, N, K] of a linear layer y[M,N] = x[M,K]·W[N,K]ᵀ. */
const FORWARD: [number, number, number][] = [
  [1024, 1024, 1024],
  [1024, 576, 576],
  [1024, 1536, 576],
  [1024, 576, 1536],
  [1024, 49152, 576],
];

function casesOf([M, N, K]: [number, number, number]): Case[] {
  return [
    { variant: "matmulNT", M, N, K },
    { variant: "matmulNTBf16", M, N, K },
    { variant: "matmulNN", M, N: K, K: N },
    { variant: "matmulNNBf16", M, N: K, K: N },
    { variant: "matmulTN", M: N, N: K, K: M },
  ];
}

function arg(name: string): string | undefined {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs per measurement: fewer for the 58-GFLOP vocabulary projection. */
function repsFor(flops: number): number {
  return flops > 1e10 ? 3 : 5;
}

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

function randomBf16(n: number): Uint16Array {
  const f = random(n);
  const out = new Uint16Array(n);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < n; i++) out[i] = u[i]! >>> 16;
  return out;
}

/** Median GFLOP/s of one case on kernels k (after a warm-up call unless told the operands are warm). */
function measure(
  k: Kernels,
  c: Case,
  a: Float32Array,
  b: Float32Array,
  bh: Uint16Array,
  out: Float32Array,
  warm: boolean,
): number {
  const call = () => {
    if (c.variant === "matmulNTBf16") k.matmulWNT(out, a, bh, "bf16", c.M, c.N, c.K, false);
    else if (c.variant === "matmulNNBf16") k.matmulWNN(out, a, bh, "bf16", c.M, c.N, c.K, false);
    else k[c.variant](out, a, b, c.M, c.N, c.K, false);
  };
  const flops = 2 * c.M * c.N * c.K;
  if (!warm || flops < 1e10) call();
  const rates: number[] = [];
  for (let r = 0; r < repsFor(flops); r++) {
    const t0 = process.hrtime.bigint();
    call();
    rates.push(flops / Number(process.hrtime.bigint() - t0));
  }
  return median(rates);
}

// OpenBLAS through numpy: reads one case per line (JSON) on stdin, prints its median GFLOP/s.
const PY = `
import json, sys, time
import numpy as np
rng = np.random.default_rng(0)
print("ready", flush=True)
for line in sys.stdin:
    c = json.loads(line)
    M, N, K, v = c["M"], c["N"], c["K"], c["variant"]
    if v.startswith("matmulNT"):
        a = rng.random((M, K), dtype=np.float32); bb = rng.random((N, K), dtype=np.float32).T
    elif v.startswith("matmulNN"):
        a = rng.random((M, K), dtype=np.float32); bb = rng.random((K, N), dtype=np.float32)
    else:
        a = rng.random((K, M), dtype=np.float32).T; bb = rng.random((K, N), dtype=np.float32)
    out = np.empty((M, N), dtype=np.float32)
    flops = 2.0 * M * N * K
    np.matmul(a, bb, out=out)
    rates = []
    for _ in range(3 if flops > 1e10 else 5):
        t = time.perf_counter(); np.matmul(a, bb, out=out); rates.append(flops / (time.perf_counter() - t) / 1e9)
    rates.sort()
    print(rates[len(rates) // 2], flush=True)
`;

/**
 * A python process running OpenBLAS sgemm at a fixed thread count, asked case by case so that its numbers are
 * measured right next to ours (the machine's load changes over a run). bf16 rows reuse the f32 product of the
 * same shape.
 */
class Blas {
  private readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;
  private readonly cache = new Map<string, number | undefined>();
  private dead = false;

  constructor(python: string, threads: number) {
    const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
    this.child = spawn(python, ["-c", PY], { env, stdio: ["pipe", "pipe", "ignore"] });
    this.child.on("error", () => {
      this.dead = true;
    });
    this.child.stdin!.on("error", () => {
      this.dead = true; // python exited (e.g. no numpy): writes fail with EPIPE
    });
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  /** Waits until python has imported numpy (so that its start-up does not overlap our measurements). */
  async ready(): Promise<void> {
    const line = await this.lines.next();
    if (line.done || line.value !== "ready") this.dead = true;
  }

  async rate(c: Case): Promise<number | undefined> {
    const key = `${c.variant.replace("Bf16", "")} ${c.M} ${c.N} ${c.K}`;
    if (this.cache.has(key)) return this.cache.get(key);
    let r: number | undefined;
    if (!this.dead) {
      this.child.stdin!.write(`${JSON.stringify(c)}\n`);
      const line = await this.lines.next();
      r = line.done ? undefined : Number(line.value);
      if (r === undefined || !Number.isFinite(r)) {
        this.dead = true; // no numpy, or python failed: stop asking
        r = undefined;
      }
    }
    this.cache.set(key, r);
    return r;
  }

  get unavailable(): boolean {
    return this.dead;
  }

  close(): void {
    this.child.stdin!.end();
  }
}

function fmt(x: number | undefined, width: number, digits = 1): string {
  return (x === undefined ? "-" : x.toFixed(digits)).padStart(width);
}

async function main(): Promise<void> {
  const reason = nativeUnavailableReason();
  if (reason !== undefined) {
    console.error(`bench:kernels needs the native addon: ${reason}`);
    process.exit(1);
  }
  const isas = (arg("isa")?.split(",") ?? nativeIsas()) as NativeIsa[];
  const maxThreads = availableParallelism();
  const threads = arg("threads")?.split(",").map(Number) ?? [...new Set([1, maxThreads])];
  const python = arg("python") ?? "/usr/bin/python3";
  const cases = FORWARD.flatMap(casesOf);
  const configs = isas.flatMap((isa) => threads.map((n) => ({ isa, n, k: createNativeKernels(isa, n) })));
  const useBlas = !process.argv.includes("--no-blas") && existsSync(python);
  const blas = useBlas ? threads.map((n) => new Blas(python, n)) : [];
  for (const w of blas) await w.ready();
  const last = threads.at(-1)!;

  console.log(`loratune native matmul, GFLOP/s (median); ISAs ${isas.join(", ")}; threads ${threads.join(", ")}`);
  console.log("blas = OpenBLAS sgemm via numpy, f32, measured right after the native runs of each row");
  const head = ["variant".padEnd(13), "M x N x K".padEnd(17)];
  for (const c of configs) head.push(`${c.isa}/${c.n}t`.padStart(11));
  if (useBlas) {
    for (const n of threads) head.push(`blas/${n}t`.padStart(9));
    for (const isa of isas) head.push(`${isa}÷blas ${last}t`.padStart(16));
  }
  console.log(head.join(" "));

  for (const c of cases) {
    const bf16 = c.variant.endsWith("Bf16");
    const a = random(c.M * c.K);
    const b = bf16 ? new Float32Array(0) : random(c.N * c.K);
    const bh = bf16 ? randomBf16(c.N * c.K) : new Uint16Array(0);
    const out = new Float32Array(c.M * c.N);
    const row = [c.variant.padEnd(13), `${c.M}x${c.N}x${c.K}`.padEnd(17)];
    const rates = new Map<string, number>();
    let warm = false; // the first measurement of a case faults in its pages; later ones skip the warm-up call
    for (const cfg of configs) {
      // The portable kernels are ~20× slower: only the 1024³ shape, to keep the run short.
      const skip = cfg.isa === "generic" && !(c.M === 1024 && c.N === 1024 && c.K === 1024);
      const r: number | undefined = skip ? undefined : measure(cfg.k, c, a, b, bh, out, warm);
      warm ||= r !== undefined;
      if (r !== undefined) rates.set(`${cfg.isa}/${cfg.n}`, r);
      row.push(fmt(r, 11));
    }
    if (useBlas) {
      const ref: (number | undefined)[] = [];
      for (const w of blas) ref.push(await w.rate(c));
      for (const r of ref) row.push(fmt(r, 9));
      for (const isa of isas) {
        const mine = rates.get(`${isa}/${last}`);
        const theirs = ref.at(-1);
        row.push(fmt(mine !== undefined && theirs ? mine / theirs : undefined, 16, 2));
      }
    }
    console.log(row.join(" "));
  }
  for (const w of blas) w.close();
  if (useBlas && blas.every((w) => w.unavailable)) console.log(`(OpenBLAS columns empty: no numpy under ${python})`);
}

await main();
