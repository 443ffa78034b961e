/**
 * `loratune ui`'s JSON API against a real server on a temporary workspace: the session token (401), path
 * confinement (403), the upload limit (413), cross-origin refusal (403), malformed JSON (400 with a message), runs
 * made by `loratune train` in a shell listed with their steps and loss, a run started through the API as an
 * ordinary run directory, and 50 concurrent requests answered while that run keeps training.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { writeMarker } from "../../src/io/run-marker.ts";
import { startUi, type UiServer } from "../../src/ui/server.ts";
import { BIN, cliOk } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "lt-ui-api-"));
const run = promisify(execFile);
const TOKEN = "test-token-0123456789";
let ui: UiServer;

/** A prompt/completion dataset for the demo model. */
function writeData(path: string, rows: number): void {
  const lines = Array.from({ length: rows }, (_, i) =>
    JSON.stringify({ prompt: `Question ${i}: what comes after ${i}?`, completion: ` It is ${i + 1}.` }),
  );
  writeFileSync(path, `${lines.join("\n")}\n`);
}

before(async () => {
  writeData(join(work, "data.jsonl"), 48);
  // A run made from a shell before the UI starts.
  cliOk(
    "train",
    "--model",
    "demo",
    "--data",
    join(work, "data.jsonl"),
    "--out",
    join(work, "shell-run"),
    "--steps",
    "6",
  );
  ui = await startUi({ workspace: work, port: 0, host: "127.0.0.1", maxUploadBytes: 4096, token: TOKEN });
});
after(async () => {
  await ui?.close();
  rmSync(work, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}` };
const get = (path: string, headers: Record<string, string> = auth) => fetch(`${ui.origin}${path}`, { headers });
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${ui.origin}${path}`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json", ...headers },
    body,
  });
const errorOf = async (res: Response) => ((await res.json()) as { error: string }).error;

test("a request without the session token, or with a wrong one, gets 401", async () => {
  const none = await get("/api/runs", {});
  assert.equal(none.status, 401);
  assert.match(await errorOf(none), /missing session token/);
  assert.equal((await get("/api/runs", { authorization: "Bearer nope" })).status, 401);
  assert.equal((await get("/", {})).status, 401);
  assert.equal((await get(`/api/runs?token=${TOKEN}`, {})).status, 200);
});

test("the printed URL sets the token cookie, which then authorizes the pages", async () => {
  const first = await fetch(ui.url, { redirect: "manual" });
  assert.equal(first.status, 303);
  const cookie = first.headers.get("set-cookie")!;
  assert.match(cookie, /HttpOnly; SameSite=Strict/);
  const page = await get("/", { cookie: cookie.split(";")[0]! });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /shell-run/);
});

test("paths outside the workspace or the run are refused with 403", async () => {
  const outside = await get(`/api/runs/${encodeURIComponent("../../etc")}`);
  assert.equal(outside.status, 403);
  assert.match(await errorOf(outside), /outside the workspace/);
  const file = await get(`/api/runs/shell-run/files/${encodeURIComponent("../../../etc/passwd")}`);
  assert.equal(file.status, 403);
  const data = await post("/api/preview", JSON.stringify({ model: "demo", data: "/etc/passwd" }));
  assert.equal(data.status, 403);
  const model = await post("/api/preview", JSON.stringify({ model: "/etc", data: "data.jsonl" }));
  assert.equal(model.status, 403);
  // Inside the run: its own files are served.
  assert.equal((await get("/api/runs/shell-run/files/config.yaml")).status, 200);
});

test("an upload over the limit gets 413; one within it is saved under uploads/", async () => {
  const big = await fetch(`${ui.origin}/api/uploads?name=big.jsonl`, {
    method: "POST",
    headers: auth,
    body: "x".repeat(8192),
  });
  assert.equal(big.status, 413);
  assert.match(await errorOf(big), /larger than the limit of 4096 bytes/);
  const small = await fetch(`${ui.origin}/api/uploads?name=small.jsonl`, {
    method: "POST",
    headers: auth,
    body: '{"text": "hello"}\n',
  });
  assert.equal(small.status, 200);
  assert.deepEqual(await small.json(), { path: "uploads/small.jsonl", bytes: 18 });
  assert.equal(readFileSync(join(work, "uploads", "small.jsonl"), "utf8"), '{"text": "hello"}\n');
});

test("a cross-origin POST is refused with 403", async () => {
  const res = await post("/api/check", "{}", { origin: "http://evil.example" });
  assert.equal(res.status, 403);
  assert.match(await errorOf(res), /cross-origin request refused/);
  const site = await post("/api/check", "{}", { "sec-fetch-site": "cross-site" });
  assert.equal(site.status, 403);
});

test("malformed JSON gets 400 with the parser's message", async () => {
  const res = await post("/api/check", "{not json");
  assert.equal(res.status, 400);
  assert.match(await errorOf(res), /^malformed JSON in the request body: /);
  const array = await post("/api/check", "[1]");
  assert.equal(array.status, 400);
  assert.match(await errorOf(array), /expected a JSON object/);
});

test("the run started from a shell is listed with its steps, loss series and tokens/s", async () => {
  const { runs } = (await (await get("/api/runs")).json()) as {
    runs: { id: string; status: string; steps: number; loss: unknown[]; tokensPerS: number }[];
  };
  const run = runs.find((r) => r.id === "shell-run");
  assert.ok(run, JSON.stringify(runs));
  assert.equal(run.status, "completed");
  assert.equal(run.steps, 6);
  assert.equal(run.loss.length, 6);
  assert.ok(run.tokensPerS > 0);
});

test("settings are checked in train's words, each beside its option", async () => {
  const res = await post(
    "/api/check",
    JSON.stringify({ name: "bad", settings: { model: "demo", data: "data.jsonl", lr: "0", "seq-len": "1" } }),
  );
  const r = (await res.json()) as { errors: Record<string, string> };
  assert.equal(r.errors.lr, '--lr: must be greater than 0 (got "0")');
  assert.equal(r.errors["seq-len"], '--seq-len: must be at least 2 (got "1")');
  const missing = (await (await post("/api/check", JSON.stringify({ name: "m", settings: {} }))).json()) as {
    errors: Record<string, string>;
  };
  assert.match(missing.errors.model!, /missing required option --model <dir>/);
});

test("50 concurrent API requests during a training run are all answered, and training continues", async () => {
  const start = await post(
    "/api/runs",
    JSON.stringify({
      name: "live",
      settings: { model: "demo", data: "data.jsonl", steps: "400", "batch-size": "8", "seq-len": "64" },
    }),
  );
  assert.equal(start.status, 200, await start.clone().text());
  const { id } = (await start.json()) as { id: string };
  assert.equal(id, "runs/live");
  // 404 until train has read its inputs and created the run directory.
  const steps = async () => {
    const res = await get(`/api/runs/${encodeURIComponent(id)}`);
    return res.ok ? ((await res.json()) as { summary: { steps: number } }).summary.steps : 0;
  };
  while ((await steps()) < 1) await new Promise((r) => setTimeout(r, 100));
  const before = await steps();
  const paths = ["/api/runs", `/api/runs/${encodeURIComponent(id)}`, "/api/models", "/api/options", "/"];
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => get(paths[i % paths.length]!)));
  assert.deepEqual(
    answers.map((r) => r.status),
    Array(50).fill(200),
  );
  await Promise.all(answers.map((r) => r.arrayBuffer()));
  while ((await steps()) <= before) await new Promise((r) => setTimeout(r, 100));
  // Stop: train checkpoints, and the run is left interrupted, resumable.
  assert.equal((await post(`/api/runs/${encodeURIComponent(id)}/stop`, "{}")).status, 200);
  await ui.context.launcher.exited(id);
  const after = (await (await get(`/api/runs/${encodeURIComponent(id)}`)).json()) as {
    summary: { status: string; steps: number };
    child: { exitCode: number };
  };
  assert.equal(after.child.exitCode, 130);
  assert.equal(after.summary.status, "interrupted");
  assert.ok(after.summary.steps > before);
});

test("a run the UI stopped resumes from the CLI, and a run the CLI made extends from the UI", async () => {
  const live = join(work, "runs", "live");
  const done = Number(JSON.parse(readFileSync(join(live, "loratune.json"), "utf8")).steps_done);
  // Asynchronously: the server lives in this process and keeps answering meanwhile.
  await run(process.execPath, [BIN, "train", "--resume", live, "--steps", String(done + 2)]);
  const fromCli = (await (await get(`/api/runs/${encodeURIComponent("runs/live")}`)).json()) as {
    summary: { status: string; steps: number };
  };
  assert.deepEqual([fromCli.summary.status, fromCli.summary.steps], ["completed", done + 2]);

  const res = await post("/api/runs/shell-run/resume", JSON.stringify({ steps: 8 }));
  assert.equal(res.status, 200, await res.clone().text());
  await ui.context.launcher.exited("shell-run");
  const extended = (await (await get("/api/runs/shell-run")).json()) as {
    summary: { status: string; steps: number };
    child: { exitCode: number };
  };
  assert.deepEqual([extended.child.exitCode, extended.summary.status, extended.summary.steps], [0, "completed", 8]);
});

test("a run that another process is training (marked running, metrics just written) is not resumed from the UI", async () => {
  const dir = join(work, "busy");
  mkdirSync(dir);
  writeMarker(dir, { kind: "run", status: "running", steps_done: 1, total_steps: 10, best_val_loss: null });
  writeFileSync(join(dir, "metrics.jsonl"), '{"type":"train","step":1,"loss":2}\n');
  const res = await post("/api/runs/busy/resume", "{}");
  assert.equal(res.status, 409);
  assert.match(await errorOf(res), /being trained by another process/);
});

test("merge and export run the CLI's commands on a run and answer once their output is written", async () => {
  const merged = await post("/api/runs/shell-run/merge", "{}");
  assert.equal(merged.status, 200, await merged.clone().text());
  const m = (await merged.json()) as { out: string; exitCode: number };
  assert.deepEqual([m.out, m.exitCode], [join(work, "merged", "shell-run"), 0]);
  assert.ok(existsSync(join(m.out, "config.json")) && existsSync(join(m.out, "model.safetensors")));
  const exported = await post("/api/runs/shell-run/export", "{}");
  assert.equal(exported.status, 200, await exported.clone().text());
  const e = (await exported.json()) as { out: string };
  assert.ok(existsSync(join(e.out, "model.gguf")), JSON.stringify(e));
});

test("the ui command prints the URL with its token, serves it, warns off loopback, and stops on SIGINT", async () => {
  const child = spawn(process.execPath, [BIN, "ui", "--workspace", work, "--port", "0", "--host", "0.0.0.0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  while (!/open (\S+)/.test(out)) {
    if (child.exitCode !== null) assert.fail(`loratune ui exited: ${out}${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = new URL(/open (\S+)/.exec(out)![1]!);
  assert.match(err, /warning: listening on 0\.0\.0\.0, not loopback/);
  const token = url.searchParams.get("token")!;
  const port = url.port;
  const listed = await fetch(`http://127.0.0.1:${port}/api/runs`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(listed.status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${port}/api/runs`)).status, 401);
  child.kill("SIGINT");
  assert.equal(await exited, 0);
});
