/**
 * `loratune ui` end to end in a real headless browser (Debian's chromium through playwright-core; no browser is
 * downloaded): on the bundled demo model, upload a file and preview a dataset, create a 30-step run from the form, see the loss curve
 * gain points, stop the run (checkpoint) and resume it to the end with samples at its evaluations, chat in the playground with tokens streaming
 * into both columns, and compare two runs. The pages are also checked for labelled controls and keyboard focus, at
 * 1280 px and in a narrow window. Screenshots are kept in the folder the test prints (LORATUNE_UI_SCREENSHOTS, else
 * a fresh temporary folder). Without chromium the test is skipped with the reason.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startUi, type UiServer } from "../../src/ui/server.ts";
import { cliOk } from "../helpers/cli.ts";

const CHROMIUM = [process.env.LORATUNE_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (p): p is string => p !== undefined && existsSync(p),
);
const skip = CHROMIUM
  ? false
  : "no chromium (install Debian's chromium, or set LORATUNE_CHROMIUM to a Chromium binary)";
if (skip) console.log(`# ui.test.ts skipped: ${skip}`);

const work = mkdtempSync(join(tmpdir(), "lt-ui-e2e-"));
const shots = process.env.LORATUNE_UI_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "loratune-ui-screenshots-"));
mkdirSync(shots, { recursive: true });
let ui: UiServer | undefined;
after(async () => {
  await ui?.close();
  rmSync(work, { recursive: true, force: true });
});

/** Rows of different lengths, some longer than the run's 128 tokens (the preview counts them as truncated). */
function writeData(path: string): void {
  const filler = "The quick brown fox jumps over the lazy dog near the river bank. ";
  const rows = Array.from({ length: 40 }, (_, i) =>
    JSON.stringify({ prompt: `Note ${i}: tell the fox story.`, completion: ` ${filler.repeat(1 + (i % 5))}` }),
  );
  writeFileSync(path, `${rows.join("\n")}\n`);
}

test("loratune ui in chromium: preview, create, watch, stop, resume, chat, compare", { skip }, async (t) => {
  t.diagnostic(`screenshots: ${shots}`);
  console.log(`# ui screenshots: ${shots}`);
  writeData(join(work, "data.jsonl"));
  // A run made in a shell: it shows up in the list and is the second run compared.
  const data = join(work, "data.jsonl");
  cliOk(
    "train",
    "--model",
    "demo",
    "--data",
    data,
    "--out",
    join(work, "shell-run"),
    "--steps",
    "8",
    "--seq-len",
    "64",
  );
  ui = await startUi({ workspace: work, port: 0, host: "127.0.0.1", maxUploadBytes: 1 << 20 });
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Waits are for events, not speed: generous, for a busy 2-core machine.
  page.setDefaultTimeout(90_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  // Runs: the shell's run is listed.
  await page.goto(ui.url);
  await page.waitForSelector('tr[data-run="shell-run"]');
  await shot("1-runs");

  // New run: preview the data.
  await page.click('nav a[href="/new"]');
  await page.fill("#f-name", "first");
  // Upload: the file is saved in the workspace and becomes the data path; then the test's own file is used.
  await page.setInputFiles("#f-upload", {
    name: "mine.jsonl",
    mimeType: "application/json",
    buffer: Buffer.from('{"text": "hi"}\n'),
  });
  await page.waitForFunction(
    () => (document.querySelector("#f-data") as HTMLInputElement).value === "uploads/mine.jsonl",
  );
  assert.equal(readFileSync(join(work, "uploads", "mine.jsonl"), "utf8"), '{"text": "hi"}\n');
  await page.fill("#f-data", "data.jsonl");
  await page.fill("#f-seq-len", "128");
  await page.click("#preview-button");
  await page.waitForSelector("#preview .row-preview .tok-trained");
  const previewText = await page.textContent("#preview");
  assert.match(previewText!, /data\.jsonl: 40 prompt_completion rows/);
  assert.match(previewText!, /\d+ of 40 rows longer than --seq-len 128 \(truncated\)/);
  assert.ok((await page.locator("#preview .tok-masked").count()) > 0, "the prompt is shown masked");

  // An invalid value is refused beside its field, in train's words; then the run is created.
  await page.fill("#f-lr", "0");
  await page.waitForFunction(() => document.querySelector("#e-lr")?.textContent?.includes("must be greater than 0"));
  assert.equal(await page.textContent("#e-lr"), '--lr: must be greater than 0 (got "0")');
  await page.fill("#f-lr", "0.001");
  await page.fill("#f-steps", "30");
  // Evaluations every 10 steps on a held-out fifth, scored by exact match: each one shows generated samples.
  await page.fill("#f-val-split", "0.2");
  await page.click("text=More settings");
  await page.fill("#f-eval-every", "10");
  await page.selectOption("#f-metric", "exact-match");
  await page.waitForFunction(() => /Steps\s*30/.test(document.querySelector("#estimate")?.textContent ?? ""));
  assert.match((await page.textContent("#estimate"))!, /Memory at peak\s*\d+ MiB/);
  await shot("2-new-run");
  await page.click("#start-button");
  await page.waitForURL(/\/run\?id=runs%2Ffirst/);

  // Live: the loss curve gains points.
  const points = () => page.getAttribute("#chart-loss", "data-points").then(Number);
  await page.waitForFunction(() => Number(document.querySelector("#chart-loss")?.getAttribute("data-points")) >= 2);
  const seen = await points();
  await page.waitForFunction(
    (n) => Number(document.querySelector("#chart-loss")?.getAttribute("data-points")) > n,
    seen,
  );
  await shot("3-live");

  // Stop: checkpoint, then stop; the run is interrupted short of its end.
  await page.click("#stop-button");
  await page.waitForFunction(
    () =>
      document.querySelector("#run")?.getAttribute("data-status") === "interrupted" &&
      document.querySelector("#run")?.getAttribute("data-running") === "false",
  );
  const stoppedAt = await points();
  assert.ok(stoppedAt < 30, `stopped at ${stoppedAt} of 30 steps`);
  // Resume: train --resume continues to the planned end.
  await page.click("#resume-button");
  await page.waitForFunction(() => document.querySelector("#run")?.getAttribute("data-status") === "completed", null, {
    timeout: 120_000,
  });
  await page.waitForFunction(() => Number(document.querySelector("#chart-loss")?.getAttribute("data-points")) === 30);
  const sampleRows = await page.locator("#evals tbody tr").count();
  assert.ok(sampleRows >= 3, `${sampleRows} evaluations`);
  assert.ok((await page.locator("#evals tbody tr").last().locator(".samples .row-preview").count()) > 0);
  await shot("4-resumed");

  // Playground: both columns receive streamed tokens.
  await page.goto(`${ui.origin}/playground?run=${encodeURIComponent("runs/first")}`);
  await page.fill("#g-prompt", "Note 3: summarize the fox.");
  await page.click("text=Sampling settings");
  await page.fill("#g-max-tokens", "12");
  await page.click("#send-button");
  for (const side of ["base", "adapted"])
    await page.waitForFunction(
      (s) => Number(document.querySelector(`#out-${s}`)?.getAttribute("data-tokens")) >= 2,
      side,
    );
  const replied = () =>
    page.waitForFunction(() =>
      ["base", "adapted"].every((s) => document.querySelector(`#stat-${s}`)?.textContent?.includes("stopped by")),
    );
  await replied();
  // A second turn: each column sends its own conversation so far.
  await page.fill("#g-prompt", "And the dog?");
  await page.click("#send-button");
  await page.waitForFunction(() => document.querySelectorAll("#out-adapted .turn-user").length === 2);
  await replied();
  assert.equal(await page.locator("#out-base .turn-model").count(), 2);
  await shot("5-playground");

  // Compare the two runs: curves overlaid, settings diffed.
  await page.goto(`${ui.origin}/`);
  await page.check('input[value="runs/first"]');
  await page.check('input[value="shell-run"]');
  await page.click("text=Compare selected");
  await page.waitForSelector("#settings-diff");
  assert.equal(await page.getAttribute("#compare-charts figure", "data-series-count"), "2");
  const differing = await page.locator("#settings-diff tr.diff th").allTextContents();
  assert.ok(
    differing.some((s) => s.startsWith("lr")),
    differing.join(", "),
  );
  await shot("6-compare");

  // Every control is labelled; the keyboard reaches the controls; a narrow window has no sideways scrolling.
  for (const path of ["/", "/new", "/playground", `/run?id=${encodeURIComponent("runs/first")}`]) {
    await page.goto(`${ui.origin}${path}`);
    const unlabelled = await page.evaluate(() =>
      Array.from(document.querySelectorAll("input, select, textarea"))
        .filter((el) => (el as HTMLInputElement).labels?.length === 0 && !el.getAttribute("aria-label"))
        .map((el) => el.id || el.outerHTML.slice(0, 60)),
    );
    assert.deepEqual(unlabelled, [], `${path}: controls without a label`);
  }
  await page.goto(`${ui.origin}/new`);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("href")), "/");
  await page.setViewportSize({ width: 390, height: 800 });
  for (const path of ["/new", `/run?id=${encodeURIComponent("runs/first")}`]) {
    await page.goto(`${ui.origin}${path}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px at 390 px`);
  }
  await shot("7-narrow-run");
  assert.deepEqual(errors, [], "script errors on the pages");
});
