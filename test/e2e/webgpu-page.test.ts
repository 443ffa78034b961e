/**
 * The browser page (issue 22, src/web/) end to end: `npm run build:web`'s site (scripts/build-web.ts, into a
 * temporary folder) served by `loratune ui` at /webgpu/, opened in Debian's chromium with WebGPU on SwiftShader (a
 * CPU adapter; test/helpers/webgpu/browser.ts's flags). The page loads the bundled demo model, trains the demo task
 * with LoRA on WebGPU for STEPS steps, scores the held-out sentences and offers the adapter; the test downloads
 * both files. The same run on the CPU is the command the page prints (`loratune train` with settings.ts's
 * trainFlags, native kernels) on the demo task's train.jsonl for the same seed and sizes.
 *
 * Checked: every step's loss against the CPU run's (tolerance below); adapter_config.json equal to train's except
 * base_model_name_or_path (train writes its local path of models/demo, the page "demo", what --model takes);
 * adapter_model.safetensors' header byte-identical to train's (same keys, shapes, dtypes, offsets, metadata) and its
 * tensors close to train's; the downloaded adapter loading with the library (evaluate with --adapter) and giving
 * the held-out loss of train's adapter. Also: the page without WebGPU says so instead of offering to train.
 *
 * Tolerance. Both sides compute in f32 in different orders (the GPU's 16-wide matmul tiles and 256-wide tree
 * reductions against the native kernels' SIMD blocking), so each product and row sum differs by a few units of
 * roundoff (u = 2⁻²⁴ ≈ 6e-8) times its length: at most K·u ≈ 4e-5 relative for the longest sums here (K = 704,
 * the MLP), typically √K·u ≈ 2e-6. The first step's loss is a function of identical weights and batch, so it
 * agrees to that level. Each later step's loss depends on the updates, and AdamW's first steps move every element
 * by about lr whatever its gradient's size (m/√v ≈ ±1), so an element whose gradient is at the roundoff level can
 * move either way; such elements are few and their effect on the loss is second order. The bound is 2e-5
 * relative per step, half of K·u: measured 7.8e-7 at most over the 24 steps (5e-8 at the first), so a 25× margin
 * (the test prints its largest difference). The adapter tensors, which carry those sign flips directly, are held
 * to 1e-3 relative (‖Δ‖/‖cpu‖ per tensor; measured 4.1e-5), and the held-out loss with the downloaded adapter to the
 * loss bound (measured equal to 6 digits).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { buildWeb } from "../../scripts/build-web.ts";
import { evaluate } from "../../src/api/evaluate.ts";
import { writeTaskDataset } from "../../src/demo/task-files.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { startUi, type UiServer } from "../../src/ui/server.ts";
import { parseSettings, trainFlags } from "../../src/web/settings.ts";
import { cliOk } from "../helpers/cli.ts";
import { CHROMIUM } from "../helpers/webgpu/browser.ts";

const WEBGPU_FLAGS = ["--no-sandbox", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"];
/** A few dozen steps of one 40-odd-token row: SwiftShader runs every invocation on the CPU. */
const STEPS = 24;
const QUERY = {
  steps: String(STEPS),
  "batch-size": "1",
  "train-size": "64",
  "test-size": "3",
  "eval-every": "12",
  seed: "11",
  lr: "2e-3",
  "warmup-steps": "4",
};
const LOSS_TOL = 2e-5;
const TENSOR_TOL = 1e-3;

const skip = CHROMIUM ? false : "no chromium (install Debian's chromium, or set LORATUNE_CHROMIUM)";
if (skip) console.log(`# webgpu-page.test.ts skipped: ${skip}`);

const work = mkdtempSync(join(tmpdir(), "lt-webgpu-page-"));
let ui: UiServer | undefined;
after(async () => {
  await ui?.close();
  rmSync(work, { recursive: true, force: true });
});

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

test("the browser page trains the demo task on WebGPU as train does on the CPU, and its adapter loads", {
  skip,
}, async (t) => {
  const site = join(work, "site");
  const built = await buildWeb(site);
  t.diagnostic(`bundle ${(built.bundleBytes / 1024).toFixed(0)} KiB, index.html ${built.htmlBytes} B`);
  ui = await startUi({
    workspace: mkdtempSync(join(work, "ws-")),
    port: 0,
    host: "127.0.0.1",
    maxUploadBytes: 1 << 20,
    webDir: site,
  });
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: WEBGPU_FLAGS });
  const downloads = join(work, "page-adapter");
  mkdirSync(downloads);
  let losses: number[];
  let stepSeconds: number[];
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const query = new URLSearchParams({ token: ui.token, ...QUERY });
    await page.goto(`${ui.origin}/webgpu?${query}`);
    await page.waitForFunction(
      () => {
        const state = document.getElementById("status")?.dataset.state;
        return state === "unavailable" || !(document.getElementById("train") as HTMLButtonElement).disabled;
      },
      null,
      { timeout: 60_000 },
    );
    const gpu = await page.textContent("#gpu-status");
    if ((await page.getAttribute("#status", "data-state")) === "unavailable") {
      t.skip(`no WebGPU adapter in chromium: ${gpu}`);
      return;
    }
    t.diagnostic(gpu ?? "");
    assert.equal(await page.inputValue("#f-steps"), String(STEPS), "the query fills the form");
    await page.click("#train");
    await page.waitForFunction(
      () => ["done", "error", "stopped"].includes(document.getElementById("status")!.dataset.state!),
      null,
      { timeout: 20 * 60_000, polling: 1000 },
    );
    assert.equal(
      await page.getAttribute("#status", "data-state"),
      "done",
      `${await page.textContent("#error")} ${errors.join("; ")}`,
    );
    losses = JSON.parse((await page.getAttribute("#loss-chart", "data-losses"))!);
    stepSeconds = JSON.parse((await page.getAttribute("#loss-chart", "data-step-seconds"))!);
    assert.equal(
      Number(await page.getAttribute("#heldout-chart", "data-points")),
      3,
      "held-out loss at steps 0, 12 and 24",
    );
    assert.equal(
      await page.locator("#heldout tbody tr").count(),
      Number(QUERY["test-size"]),
      "one row per held-out sentence",
    );
    for (const [id, name] of [
      ["#download-weights", "adapter_model.safetensors"],
      ["#download-config", "adapter_config.json"],
      ["#download-data", "train.jsonl"],
    ] as const) {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click(id)]);
      assert.equal(download.suggestedFilename(), name);
      await download.saveAs(join(downloads, name));
    }
    // The command the page prints for the same run on the CPU is settings.ts's trainFlags.
    const settings = parseSettings((n) => (QUERY as Record<string, string>)[n] ?? null);
    assert.match(
      (await page.textContent("#cpu-command"))!,
      new RegExp(trainFlags(settings).join(" ").replace(/[.+]/g, "\\$&")),
    );
  } finally {
    await browser.close();
  }

  // The CPU run: the command the page prints, on the train.jsonl it offers (loratune demo's file for the same seed
  // and sizes, byte for byte).
  const settings = parseSettings((n) => (QUERY as Record<string, string>)[n] ?? null);
  const data = await writeTaskDataset(join(work, "data"), {
    seed: settings.seed,
    trainSize: settings.trainSize,
    testSize: settings.testSize,
  });
  const cpuRun = join(work, "cpu-run");
  const started = performance.now();
  assert.equal(readFileSync(join(downloads, "train.jsonl"), "utf8"), readFileSync(data.trainPath, "utf8"));
  cliOk("train", ...trainFlags(settings), `--data=${join(downloads, "train.jsonl")}`, `--out=${cpuRun}`);
  const cpuSeconds = (performance.now() - started) / 1000;
  const cpuRows = readFileSync(join(cpuRun, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === "train");
  const cpuLosses = cpuRows.map((r) => r.loss as number);
  const cpuStepSeconds = cpuRows.map((r, i) => r.elapsed_s - (i > 0 ? cpuRows[i - 1].elapsed_s : 0));
  assert.equal(losses.length, STEPS);
  assert.equal(cpuLosses.length, STEPS);
  const diffs = losses.map((l, i) => rel(l, cpuLosses[i]!));
  const worst = Math.max(...diffs);
  t.diagnostic(
    `losses: page ${losses[0]!.toFixed(5)} → ${losses.at(-1)!.toFixed(5)}, cpu ${cpuLosses[0]!.toFixed(5)} → ${cpuLosses.at(-1)!.toFixed(5)}; largest relative difference ${worst.toExponential(2)} (step ${diffs.indexOf(worst) + 1}), first step ${diffs[0]!.toExponential(2)}`,
  );
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const gpuStep = median(stepSeconds!.slice(1));
  const cpuStep = median(cpuStepSeconds.slice(1));
  t.diagnostic(
    `a step (median, first left out): SwiftShader ${gpuStep.toFixed(2)} s, native CPU ${(1000 * cpuStep).toFixed(1)} ms: ${(gpuStep / cpuStep).toFixed(0)}× (first steps ${stepSeconds![0]!.toFixed(2)} s with shader compilation, ${(1000 * cpuStepSeconds[0]!).toFixed(1)} ms); the whole CPU run (process start, load, ${STEPS} steps, save) ${cpuSeconds.toFixed(1)} s`,
  );

  assert.ok(losses.at(-1)! < losses[0]!, "the loss goes down");
  assert.ok(
    worst <= LOSS_TOL,
    `step ${diffs.indexOf(worst) + 1}: page loss ${losses[diffs.indexOf(worst)]} vs cpu ${cpuLosses[diffs.indexOf(worst)]}`,
  );

  // adapter_config.json: train's, but for the base model's name.
  const pageConfig = JSON.parse(readFileSync(join(downloads, "adapter_config.json"), "utf8"));
  const cpuConfig = JSON.parse(readFileSync(join(cpuRun, "adapter_config.json"), "utf8"));
  assert.equal(pageConfig.base_model_name_or_path, "demo");
  assert.deepEqual({ ...pageConfig, base_model_name_or_path: null }, { ...cpuConfig, base_model_name_or_path: null });
  // adapter_model.safetensors: the same header bytes (keys, shapes, dtypes, offsets, metadata), close values.
  const pageBytes = readFileSync(join(downloads, "adapter_model.safetensors"));
  const cpuBytes = readFileSync(join(cpuRun, "adapter_model.safetensors"));
  const headerLen = 8 + Number(cpuBytes.readBigUInt64LE(0));
  assert.equal(pageBytes.length, cpuBytes.length);
  assert.ok(pageBytes.subarray(0, headerLen).equals(cpuBytes.subarray(0, headerLen)), "header bytes");
  const pageT = readSafetensors(join(downloads, "adapter_model.safetensors"), "f32");
  const cpuT = readSafetensors(join(cpuRun, "adapter_model.safetensors"), "f32");
  let worstTensor = 0;
  for (const [name, want] of cpuT) {
    const got = pageT.get(name)!.data as Float32Array;
    const w = want.data as Float32Array;
    let d = 0;
    let n = 0;
    for (let i = 0; i < w.length; i++) {
      d += (got[i]! - w[i]!) ** 2;
      n += w[i]! ** 2;
    }
    worstTensor = Math.max(worstTensor, Math.sqrt(d / n));
  }
  t.diagnostic(`adapter tensors: largest ‖page − cpu‖ / ‖cpu‖ ${worstTensor.toExponential(2)}`);
  assert.ok(worstTensor <= TENSOR_TOL, `adapter tensors differ by ${worstTensor}`);

  // The downloaded adapter loads with the library and scores the held-out rows as train's adapter does.
  const withPage = await evaluate({ model: "demo", adapter: downloads, data: data.testPath });
  const withCpu = await evaluate({ model: "demo", adapter: cpuRun, data: data.testPath });
  t.diagnostic(
    `held-out loss with the page's adapter ${withPage.loss.toFixed(5)}, with train's ${withCpu.loss.toFixed(5)}`,
  );
  assert.ok(rel(withPage.loss, withCpu.loss) <= LOSS_TOL);
});

test("without WebGPU the page says so and offers no training; an unbuilt site says how to build it", {
  skip,
}, async () => {
  const site = join(work, "site-nogpu");
  await buildWeb(site, false);
  const server = await startUi({
    workspace: mkdtempSync(join(work, "ws-")),
    port: 0,
    host: "127.0.0.1",
    maxUploadBytes: 1 << 20,
    webDir: site,
  });
  const unbuilt = await startUi({
    workspace: mkdtempSync(join(work, "ws-")),
    port: 0,
    host: "127.0.0.1",
    maxUploadBytes: 1 << 20,
    webDir: join(work, "no-site"),
  });
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox", "--disable-webgpu"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/webgpu/?token=${server.token}`);
    await page.waitForFunction(() => document.getElementById("status")?.dataset.state === "unavailable", null, {
      timeout: 60_000,
    });
    assert.equal(await page.getAttribute("#gpu-status", "data-ok"), "false");
    assert.match((await page.textContent("#gpu-status"))!, /no WebGPU|no GPU adapter/);
    assert.equal(await page.isDisabled("#train"), true);
    const res = await fetch(`${unbuilt.origin}/webgpu/`, { headers: { authorization: `Bearer ${unbuilt.token}` } });
    assert.equal(res.status, 404);
    assert.match(await res.text(), /npm run build:web/);
  } finally {
    await browser.close();
    await server.close();
    await unbuilt.close();
  }
});
