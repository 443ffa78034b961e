/**
 * The WebGPU attention kernels (src/kernels/webgpu/attention-*.ts) against the reference kernels, in headless
 * Chromium on SwiftShader (test/helpers/webgpu/browser.ts): grouped-query heads, packed segments, one token, a
 * sequence longer than a 64-key chunk, and a head longer than the 64-invocation workgroup. The GPU works in f32
 * (online softmax, chunked sums) where the reference works in f64, so every element is held to a first-order
 * bound of the f32 errors, computed below from the inputs (attentionBounds). Skipped with the reason when
 * chromium or a WebGPU adapter is missing.
 */
import { after, before, test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import { openWebGpuPage, type WebGpuPage } from "../helpers/webgpu/browser.ts";
import { assertScaledClose, randArray, rng } from "../unit/kernels-native-helpers.ts";

const U = 2 ** -24;

let page: WebGpuPage | undefined;
let skip: string | undefined;
before(async () => {
  const opened = await openWebGpuPage();
  if (typeof opened === "string") {
    skip = opened;
    console.log(`# webgpu-attention.test.ts skipped: ${skip}`);
  } else page = opened;
});
after(() => page?.close());

const list = (a: Float32Array | Int32Array): number[] => Array.from(a);

interface Case {
  B: number;
  T: number;
  nHead: number;
  nKv: number;
  hd: number;
  seg: Int32Array | null;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
}

/** [B, T, nHead, nKv, headDim, segmented]: one token; GQA with packed segments; T past a 64-key chunk; hd > 64. */
const SHAPES: [number, number, number, number, number, boolean][] = [
  [1, 1, 1, 1, 1, false],
  [2, 7, 4, 2, 6, true],
  [1, 70, 2, 1, 9, false],
  [1, 5, 3, 3, 130, false],
];

function makeCase([B, T, nHead, nKv, hd, segmented]: (typeof SHAPES)[number], seed: number): Case {
  const rand = rng(seed);
  const seg = segmented ? Int32Array.from({ length: B * T }, (_, i) => (i % T < 3 ? 0 : 1)) : null;
  return {
    ...{ B, T, nHead, nKv, hd, seg },
    q: randArray(rand, B * T * nHead * hd),
    k: randArray(rand, B * T * nKv * hd),
    v: randArray(rand, B * T * nKv * hd),
    dout: randArray(rand, B * T * nHead * hd),
  };
}

/**
 * Per-element error bounds of the f32 computation, to first order in u, in f64 from the inputs and the exact
 * results. For query row (b, h, t) and visible key s, the score scale·q·k_s errs by εS ≤ (hd+1)·u·scale·Σ|q·k_s|.
 * Forward: each weight e^{score − M} errs relatively by 2εS (score and running max) plus WGSL's exp
 * (3 + 2·|x| ulp, x ≤ the row's score range) once for itself and once per chunk for the rescaling e^{M_old − M_new},
 * and the sum of t+1 weights by (t+9)·u (strided and tree): δ. out = Σ p·v / Σ p then errs by
 * (2δ + (t+2)·u)·Σ P|v| and lse = M + log Σ by δ + 2⁻²¹ (WGSL's log) + 2u·(|M| + |lse|).
 * Backward: P_ts = e^{score − lse} errs relatively by δb = εS + (4 + 2·|score − lse|)·u; dS = P·(dout·v_s − D)
 * by P·(|dout·v_s − D|·δb + εdp + εD) (each dot (hd+1)·u·Σ|terms|); dq, dk, dv are sums of n such terms with
 * (n+2)·u more of rounding.
 */
/** a[i] += x (a Float64Array under noUncheckedIndexedAccess). */
function add(a: Float64Array, i: number, x: number): void {
  a[i] = a[i]! + x;
}

function attentionBounds(c: Case, out: Float32Array, lse: Float32Array) {
  const { B, T, nHead, nKv, hd, seg, q, k, v, dout } = c;
  const qRow = nHead * hd;
  const kvRow = nKv * hd;
  const heads = nHead / nKv;
  const scale = 1 / Math.sqrt(hd);
  const b0 = {
    out: new Float64Array(q.length),
    lse: new Float64Array(lse.length),
    dq: new Float64Array(q.length),
    dk: new Float64Array(k.length),
    dv: new Float64Array(v.length),
  };
  const dot = (x: Float32Array, xo: number, y: Float32Array, yo: number, absolute: boolean) => {
    let s = 0;
    for (let d = 0; d < hd; d++) s += absolute ? Math.abs(x[xo + d]! * y[yo + d]!) : x[xo + d]! * y[yo + d]!;
    return s;
  };
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / heads);
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qRow + h * hd;
        const L = lse[(b * nHead + h) * T + t]!;
        const keys = [...Array(t + 1).keys()].filter((s) => seg === null || seg[b * T + s] === seg[b * T + t]);
        const ko = (s: number) => (b * T + s) * kvRow + kvh * hd;
        const sc = keys.map((s) => scale * dot(q, qo, k, ko(s), false));
        const epsS = Math.max(...keys.map((s) => (hd + 1) * U * scale * dot(q, qo, k, ko(s), true)));
        const range = Math.max(...sc) - Math.min(...sc);
        const chunks = Math.ceil((t + 1) / 64);
        const delta = 2 * epsS + (chunks + 1) * (3 + 2 * range) * U + (t + 9) * U;
        b0.lse[(b * nHead + h) * T + t] = delta + 2 ** -21 + 2 * U * (Math.max(...sc) + Math.abs(L));
        const D = dot(dout, qo, out, qo, false);
        const epsD = (hd + 1) * U * dot(dout, qo, out, qo, true);
        keys.forEach((s, j) => {
          const P = Math.exp(sc[j]! - L);
          const dp = dot(dout, qo, v, ko(s), false);
          const dS = P * (dp - D);
          const deltaB = epsS + (4 + 2 * Math.abs(sc[j]! - L)) * U;
          const errDS = P * (Math.abs(dp - D) * deltaB + (hd + 1) * U * dot(dout, qo, v, ko(s), true) + epsD);
          const nKvTerms = heads * T + 2;
          for (let d = 0; d < hd; d++) {
            add(b0.out, qo + d, (2 * delta + (t + 2) * U) * P * Math.abs(v[ko(s) + d]!));
            add(b0.dq, qo + d, scale * (errDS + (t + 2) * U * Math.abs(dS)) * Math.abs(k[ko(s) + d]!));
            add(b0.dk, ko(s) + d, scale * (errDS + nKvTerms * U * Math.abs(dS)) * Math.abs(q[qo + d]!));
            add(b0.dv, ko(s) + d, P * Math.abs(dout[qo + d]!) * (deltaB + nKvTerms * U));
          }
        });
      }
    }
  }
  return b0;
}

test("webgpu attentionForward and attentionBackward match the reference (GQA, segments, chunks, long heads)", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  for (const [i, shape] of SHAPES.entries()) {
    const c = makeCase(shape, 100 + i);
    const { B, T, nHead, nKv, hd, seg, q, k, v, dout } = c;
    const name = `[B ${B}, T ${T}, heads ${nHead}/${nKv}, hd ${hd}${seg ? ", seg" : ""}]`;
    const out = new Float32Array(q.length);
    const lse = new Float32Array(B * nHead * T);
    ref.attentionForward(out, lse, q, k, v, seg, B, T, nHead, nKv, hd);
    const [dq, dk, dv] = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)];
    ref.attentionBackward(dq, dk, dv, dout, q, k, v, out, lse, seg, B, T, nHead, nKv, hd);
    const bounds = attentionBounds(c, out, lse);
    const scalars = { B, T, nHead, nKv, headDim: hd };
    const i32: Record<string, number[]> = seg === null ? {} : { seg: list(seg) };
    const fwd = await page!.run({
      op: "attentionForward",
      f32: { out: list(out.map(() => 0)), lse: list(lse.map(() => 0)), q: list(q), k: list(k), v: list(v) },
      i32,
      scalars,
      read: ["out", "lse"],
    });
    assertScaledClose(`out ${name}`, fwd.out!, out, bounds.out, 1, 1e-30);
    assertScaledClose(`lse ${name}`, fwd.lse!, lse, bounds.lse, 1, 1e-30);
    // The backward takes the reference's forward results, so that only its own errors are measured.
    const zeros = (n: number) => list(new Float32Array(n).fill(7));
    const bwd = await page!.run({
      op: "attentionBackward",
      f32: {
        ...{ dq: zeros(q.length), dk: zeros(k.length), dv: zeros(v.length) },
        ...{ dout: list(dout), q: list(q), k: list(k), v: list(v), out: list(out), lse: list(lse) },
      },
      i32,
      scalars,
      read: ["dq", "dk", "dv"],
    });
    assertScaledClose(`dq ${name}`, bwd.dq!, dq, bounds.dq, 1, 1e-30);
    assertScaledClose(`dk ${name}`, bwd.dk!, dk, bounds.dk, 1, 1e-30);
    assertScaledClose(`dv ${name}`, bwd.dv!, dv, bounds.dv, 1, 1e-30);
  }
});
