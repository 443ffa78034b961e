/**
 * `node --import tsx bench/quantized.ts`: block formats against bf16 in one run, formats interleaved round by
 * round (medians): the training products of a linear layer (forward y = x·Wᵀ and backward dx = dy·W at M tokens,
 * as tokens/s of the pair) and the one-row decode (y = x·Wᵀ at M = 1 over a set of weights larger than the
 * caches, as rows/s), with each format's ratio to bf16; for q8_0 and q4_k also the decode with the activation
 * quantized to 8 bits (matvecWQ8, what generation runs), "decode q8". Options: --m=512 --n=2048 --k=2048 --rounds=7
 * (LORATUNE_THREADS sets the threads).
 */
import { getKernels } from "../src/kernels/index.ts";
import { hasQ8Dot } from "../src/kernels/ref/matvec-q8.ts";
import { type StorageDType, weightFormat } from "../src/tensor/formats/index.ts";

const arg = (name: string, dflt: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const [M, N, K, rounds] = [arg("m", 512), arg("n", 2048), arg("k", 2048), arg("rounds", 7)];
const FORMATS: StorageDType[] = ["bf16", "q8_0", "q4_k"];
const DECODE_WEIGHTS = 16; // 16 weights [N, K]: 128 MiB of bf16 at 2048², past any cache
const k = getKernels();

const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const w = rand(N * K);
const weights = new Map(
  FORMATS.map((f) => {
    const all = Array.from({ length: DECODE_WEIGHTS }, () => {
      const d = weightFormat(f).alloc(N * K);
      k.weightFromF32(d, f, w, N * K);
      return d;
    });
    return [f, all] as const;
  }),
);
const x = rand(M * K);
const dy = rand(M * N);
const y = new Float32Array(M * N);
const dx = new Float32Array(M * K);
const x1 = rand(K);
const y1 = new Float32Array(N);

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
}

const train = new Map<string, number[]>(FORMATS.map((f) => [f, []]));
const decode = new Map<string, number[]>(FORMATS.map((f) => [f, []]));
const decodeQ8 = new Map<string, number[]>(FORMATS.map((f) => [f, []]));
for (let r = 0; r < rounds; r++) {
  for (const f of FORMATS) {
    const ws = weights.get(f)!;
    const s = time(() => {
      k.matmulWNT(y, x, ws[0]!, f, M, N, K, false);
      k.matmulWNN(dx, dy, ws[0]!, f, M, K, N, false);
    });
    train.get(f)!.push(M / s);
    const reps = 4;
    const d = time(() => {
      for (let i = 0; i < reps; i++) for (const wi of ws) k.matmulWNT(y1, x1, wi, f, 1, N, K, false);
    });
    decode.get(f)!.push((reps * ws.length) / d);
    if (!hasQ8Dot(f)) continue;
    const q = time(() => {
      for (let i = 0; i < reps; i++) for (const wi of ws) k.matvecWQ8(y1, x1, wi, f, N, K, false);
    });
    decodeQ8.get(f)!.push((reps * ws.length) / q);
  }
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
console.log(
  `${k.name}/${k.isa}, ${k.threads} threads; training pair M=${M}, W [${N}, ${K}]; decode over ${DECODE_WEIGHTS} weights`,
);
for (const f of FORMATS) {
  const t = median(train.get(f)!);
  const d = median(decode.get(f)!);
  const tb = median(train.get("bf16")!);
  const db = median(decode.get("bf16")!);
  const q = decodeQ8.get(f)!.length > 0 ? median(decodeQ8.get(f)!) : undefined;
  const q8 = q === undefined ? "" : `   decode q8 ${q.toFixed(0).padStart(6)} (${(q / db).toFixed(2)}x bf16)`;
  console.log(
    `${f.padEnd(5)} training ${t.toFixed(0).padStart(7)} tokens/s (${(t / tb).toFixed(2)}x bf16)   decode ${d.toFixed(0).padStart(6)} weight-rows/s (${(d / db).toFixed(2)}x bf16)${q8}`,
  );
}
