/// <reference types="@webgpu/types" />
/**
 * The browser page's behaviour (plain DOM on page-html.ts's structure): checks for WebGPU and says clearly what is
 * missing (no navigator.gpu, no adapter, a device that cannot be had); on Train, fetches the model folder, starts a
 * WebSession (session.ts) and trains step by step, drawing the loss, learning-rate, gradient-norm and held-out loss
 * curves (the held-out loss from step 0, before any update); then scores the held-out sentences and offers the
 * adapter's two files for download (and the run's train.jsonl, for the same run on the CPU). Stop ends the run
 * after the current step; the adapter trained so far can still be scored and downloaded.
 *
 * For tests and scripts, the training-loss figure keeps every loss in full precision in `data-losses` (JSON) and
 * each step's seconds in `data-step-seconds`, and #status's `data-state` says idle, loading, training, scoring,
 * done, stopped, error or unavailable.
 */
import { isLoratuneError } from "../errors.ts";
import { requestTrainingDevice } from "../webgpu/device.ts";
import { drawLineChart, fmt, type Series } from "./chart.ts";
import { loadWebModel } from "./demo-model.ts";
import { type HeldOutRow, WebSession, type WebStep } from "./session.ts";
import { parseSettings, trainFlags, type WebSettings } from "./settings.ts";

/** Where the model folder is, relative to the page (dist-web/model/, or /webgpu/model/ under `loratune ui`). */
const MODEL_FOLDER = "model/";
/** adapter_config.json's base_model_name_or_path for the bundled model: what `--model` takes for it. */
const DEMO_NAME = "demo";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

type State = "idle" | "loading" | "training" | "scoring" | "done" | "stopped" | "error" | "unavailable";

function setState(state: State, text: string): void {
  const s = $("status");
  s.dataset.state = state;
  s.textContent = text;
}

function showError(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  $("error").textContent = isLoratuneError(err) ? message : `unexpected error: ${message}`;
  setState("error", "Stopped by an error.");
}

/** Why WebGPU cannot be used here, or the adapter. */
async function findAdapter(): Promise<{ adapter: GPUAdapter } | { why: string }> {
  if (!window.isSecureContext) {
    return { why: "WebGPU needs a secure context: open this page over https:// or from localhost." };
  }
  if (!("gpu" in navigator) || !navigator.gpu) {
    return {
      why: "This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or Safari, or enable WebGPU in its settings.",
    };
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    return {
      why: "WebGPU is there but found no GPU adapter (requestAdapter() gave none): the GPU may be blocklisted or disabled.",
    };
  }
  return { adapter };
}

function adapterName(adapter: GPUAdapter): string {
  const info = adapter.info;
  const parts = [info?.vendor, info?.architecture, info?.device, info?.description].filter((p) => p);
  return parts.length > 0 ? parts.join(" ") : "a WebGPU adapter";
}

class Page {
  private session: WebSession | null = null;
  private stopRequested = false;
  private urls: string[] = [];
  private readonly series = {
    loss: [] as [number, number][],
    lr: [] as [number, number][],
    norm: [] as [number, number][],
    heldout: [] as [number, number][],
  };
  private losses: number[] = [];
  private stepSeconds: number[] = [];
  private drawing = false;

  constructor(private readonly adapter: GPUAdapter) {}

  settings(): WebSettings {
    const form = $("settings") as HTMLFormElement;
    return parseSettings((name) => (form.elements.namedItem(name) as HTMLInputElement | null)?.value ?? null);
  }

  private redraw(): void {
    if (this.drawing) return;
    this.drawing = true;
    requestAnimationFrame(() => {
      this.drawing = false;
      const chart = (id: string, s: Series[]) => drawLineChart($(id), s);
      chart("loss-chart", [{ name: "loss", points: this.series.loss }]);
      chart("lr-chart", [{ name: "lr", points: this.series.lr }]);
      chart("norm-chart", [{ name: "grad norm", points: this.series.norm }]);
      chart("heldout-chart", [{ name: "held-out loss", points: this.series.heldout }]);
    });
  }

  private reset(s: WebSettings): void {
    for (const k of Object.keys(this.series) as (keyof Page["series"])[]) this.series[k] = [];
    this.losses = [];
    this.stepSeconds = [];
    $("loss-chart").dataset.losses = "[]";
    $("loss-chart").dataset.stepSeconds = "[]";
    $("heldout").querySelector("tbody")!.textContent = "";
    for (const id of ["card-step", "card-loss", "card-heldout", "card-exact", "card-speed", "card-memory"])
      $(id).textContent = "–";
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
    $("download-weights").hidden = true;
    $("download-config").hidden = true;
    $("download-data").hidden = true;
    $("error").textContent = "";
    const progress = $<HTMLProgressElement>("progress");
    progress.value = 0;
    progress.max = s.steps;
    $("cpu-command").textContent = `loratune train ${trainFlags(s).join(" ")} --data train.jsonl --out run`;
    this.redraw();
  }

  private onStep(r: WebStep): void {
    this.series.loss.push([r.step, r.loss]);
    this.series.lr.push([r.step, r.lr]);
    this.series.norm.push([r.step, r.gradNorm]);
    this.losses.push(r.loss);
    this.stepSeconds.push(r.seconds);
    $("loss-chart").dataset.losses = JSON.stringify(this.losses);
    $("loss-chart").dataset.stepSeconds = JSON.stringify(this.stepSeconds);
    $("card-step").textContent = `${r.step} / ${r.totalSteps}`;
    $("card-loss").textContent = fmt(r.loss);
    $("card-speed").textContent = fmt(r.tokens / r.seconds, 3);
    $<HTMLProgressElement>("progress").value = r.step;
    this.redraw();
  }

  private async heldOut(step: number): Promise<void> {
    const loss = await this.session!.heldOutLoss();
    this.series.heldout.push([step, loss]);
    $("card-heldout").textContent = fmt(loss);
    this.redraw();
  }

  async train(): Promise<void> {
    let s: WebSettings;
    try {
      s = this.settings();
    } catch (err) {
      showError(err);
      return;
    }
    this.busy(true);
    this.stopRequested = false;
    this.reset(s);
    try {
      this.session?.destroy();
      this.session = null;
      setState("loading", "Loading the model…");
      const device = await requestTrainingDevice(this.adapter);
      device.lost.then((info) => {
        if (info.reason !== "destroyed") showError(new Error(`the GPU device was lost: ${info.message}`));
      });
      const web = await loadWebModel(new URL(MODEL_FOLDER, document.baseURI), s.seqLen);
      this.session = await WebSession.create(device, web, s, DEMO_NAME);
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      $("card-memory").textContent = mib(this.session.memory.totalBytes);
      const session = this.session;
      this.offer("download-data", session.trainJsonl, "application/x-ndjson");
      setState("training", `Training ${session.trainableParams.toLocaleString("en-US")} LoRA parameters…`);
      await this.heldOut(0);
      while (session.step < session.totalSteps && !this.stopRequested) {
        const r = await session.trainStep();
        this.onStep(r);
        if (s.evalEvery > 0 && r.step % s.evalEvery === 0 && r.step < session.totalSteps) await this.heldOut(r.step);
      }
      await this.heldOut(session.step);
      await this.finish(this.stopRequested ? "stopped" : "done");
    } catch (err) {
      showError(err);
    } finally {
      this.busy(false);
    }
  }

  /** Scores the held-out sentences and offers the adapter's files. */
  private async finish(end: "done" | "stopped"): Promise<void> {
    await this.score();
    await this.offerDownloads();
    const steps = this.session!.step;
    setState(end, end === "done" ? `Done: ${steps} steps.` : `Stopped after ${steps} steps.`);
  }

  async score(): Promise<void> {
    const session = this.session;
    if (!session) return;
    setState("scoring", "Scoring the held-out sentences (greedy decoding on the CPU)…");
    const tbody = $("heldout").querySelector("tbody")!;
    tbody.textContent = "";
    let correct = 0;
    const rows = await session.scoreHeldOut((row: HeldOutRow, i: number) => {
      if (row.correct) correct++;
      const tr = document.createElement("tr");
      const cell = (text: string, cls?: string) => {
        const td = document.createElement("td");
        if (cls) td.className = cls;
        td.textContent = text;
        tr.append(td);
      };
      cell(row.sentence);
      cell(row.expected);
      cell(row.prediction === "" ? "(nothing)" : row.prediction);
      cell(row.correct ? "✓" : "✗", row.correct ? "ok" : "bad");
      cell(fmt(row.loss), "num");
      tbody.append(tr);
      $("card-exact").textContent = `${correct} / ${i + 1}`;
    });
    $("card-exact").textContent =
      `${correct} / ${rows.length} (${((100 * correct) / Math.max(1, rows.length)).toFixed(0)}%)`;
  }

  /** Shows the download link `id` for `data`. */
  private offer(id: string, data: BlobPart, type: string): void {
    const url = URL.createObjectURL(new Blob([data], { type }));
    this.urls.push(url);
    const a = $<HTMLAnchorElement>(id);
    a.href = url;
    a.hidden = false;
  }

  private async offerDownloads(): Promise<void> {
    const files = await this.session!.adapterFiles();
    this.offer("download-weights", files.weights as Uint8Array<ArrayBuffer>, "application/octet-stream");
    this.offer("download-config", files.config, "application/json");
  }

  private busy(on: boolean): void {
    $<HTMLButtonElement>("train").disabled = on;
    $<HTMLButtonElement>("stop").disabled = !on;
    $<HTMLButtonElement>("score").disabled = on || this.session === null;
  }

  bind(): void {
    $("train").addEventListener("click", () => void this.train());
    $("stop").addEventListener("click", () => {
      this.stopRequested = true;
      $<HTMLButtonElement>("stop").disabled = true;
    });
    $("score").addEventListener("click", async () => {
      this.busy(true);
      try {
        await this.score();
        setState("done", "Scored.");
      } catch (err) {
        showError(err);
      } finally {
        this.busy(false);
      }
    });
  }
}

/** Fills the form from the URL's query, then checks for WebGPU and enables Train when there is an adapter. */
export async function startPage(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const form = $("settings") as HTMLFormElement;
  for (const [name, value] of params) {
    const input = form.elements.namedItem(name) as HTMLInputElement | null;
    if (input) input.value = value;
  }
  const status = $("gpu-status");
  try {
    const found = await findAdapter();
    if ("why" in found) {
      status.dataset.ok = "false";
      status.textContent = found.why;
      setState("unavailable", "Training needs WebGPU.");
      return;
    }
    status.dataset.ok = "true";
    status.textContent = `WebGPU adapter: ${adapterName(found.adapter)}.`;
    const page = new Page(found.adapter);
    page.bind();
    $<HTMLButtonElement>("train").disabled = false;
    try {
      $("cpu-command").textContent =
        `loratune train ${trainFlags(page.settings()).join(" ")} --data train.jsonl --out run`;
    } catch (err) {
      showError(err);
    }
  } catch (err) {
    status.dataset.ok = "false";
    status.textContent = `WebGPU failed: ${err instanceof Error ? err.message : String(err)}`;
    setState("unavailable", "Training needs WebGPU.");
  }
}
