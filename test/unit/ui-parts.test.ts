/**
 * The UI server's parts without a server: the guards (token, origin, confined paths, symbolic links), the router,
 * live metrics reading (a half-written last line, a file rewritten shorter), the workspace scan, the ETA, the
 * data preview's histogram and token runs, the settings diff and the command line built from form values.
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { HttpError } from "../../src/errors.ts";
import { writeMarker } from "../../src/io/run-marker.ts";
import type { MetricRow } from "../../src/report/metrics.ts";
import { etaSeconds } from "../../src/ui/api-events.ts";
import { settingsDiff } from "../../src/ui/compare.ts";
import { isLoopback } from "../../src/ui/options.ts";
import { chatHistory } from "../../src/ui/playground.ts";
import { histogram, tokenRuns } from "../../src/ui/preview.ts";
import { Router } from "../../src/ui/router.ts";
import { commandArgs } from "../../src/ui/run-check.ts";
import { readMetricsFrom } from "../../src/ui/run-metrics.ts";
import { checkOrigin, checkToken, confine } from "../../src/ui/security.ts";
import { listRunIds } from "../../src/ui/workspace.ts";

const work = mkdtempSync(join(tmpdir(), "lt-ui-parts-"));
after(() => rmSync(work, { recursive: true, force: true }));

const request = (method: string, headers: Record<string, string> = {}) =>
  ({ method, headers }) as unknown as IncomingMessage;
const status = (f: () => unknown) => {
  try {
    f();
    return 0;
  } catch (err) {
    return err instanceof HttpError ? err.status : -1;
  }
};

test("the token is taken from the query, a bearer header or the cookie; anything else is 401", () => {
  const url = (q = "") => new URL(`http://127.0.0.1/x${q}`);
  assert.equal(
    status(() => checkToken(request("GET"), url("?token=abc"), "abc")),
    0,
  );
  assert.equal(
    status(() => checkToken(request("GET", { authorization: "Bearer abc" }), url(), "abc")),
    0,
  );
  assert.equal(
    status(() => checkToken(request("GET", { cookie: "a=1; loratune_ui_token=abc" }), url(), "abc")),
    0,
  );
  assert.equal(
    status(() => checkToken(request("GET"), url(), "abc")),
    401,
  );
  assert.equal(
    status(() => checkToken(request("GET"), url("?token=abd"), "abc")),
    401,
  );
  assert.equal(
    status(() => checkToken(request("GET"), url("?token=abcd"), "abc")),
    401,
  );
});

test("state-changing requests from another origin are 403; reads and same-origin posts pass", () => {
  const origin = "http://127.0.0.1:7860";
  assert.equal(
    status(() => checkOrigin(request("GET", { origin: "http://evil" }), origin)),
    0,
  );
  assert.equal(
    status(() => checkOrigin(request("POST", { origin }), origin)),
    0,
  );
  assert.equal(
    status(() => checkOrigin(request("POST"), origin)),
    0,
  );
  assert.equal(
    status(() => checkOrigin(request("POST", { origin: "http://127.0.0.1:7861" }), origin)),
    403,
  );
  assert.equal(
    status(() => checkOrigin(request("POST", { "sec-fetch-site": "cross-site" }), origin)),
    403,
  );
});

test("confine keeps paths inside the roots, symbolic links followed", () => {
  const root = join(work, "ws");
  mkdirSync(join(root, "a"), { recursive: true });
  symlinkSync(tmpdir(), join(root, "escape"));
  assert.equal(confine("a/b.jsonl", [root], "data"), join(root, "a", "b.jsonl"));
  assert.equal(
    status(() => confine("../x", [root], "data")),
    403,
  );
  assert.equal(
    status(() => confine("/etc/passwd", [root], "data")),
    403,
  );
  assert.equal(
    status(() => confine("escape/x", [root], "data")),
    403,
  );
  assert.equal(
    status(() => confine("a\0b", [root], "data")),
    400,
  );
});

test("the router decodes parameters, and says 404 or 405", async () => {
  const seen: Record<string, string>[] = [];
  const router = new Router().add({
    method: "POST",
    pattern: "/api/runs/:id/stop",
    handle: (r) => seen.push(r.params),
  });
  const go = (method: string, path: string) =>
    router.dispatch(request(method), {} as never, new URL(`http://h${path}`)).then(
      () => 0,
      (e: HttpError) => e.status,
    );
  assert.equal(await go("POST", "/api/runs/runs%2Ffirst/stop"), 0);
  assert.deepEqual(seen, [{ id: "runs/first" }]);
  assert.equal(await go("GET", "/api/runs/x/stop"), 405);
  assert.equal(await go("POST", "/api/nothing"), 404);
  assert.equal(await go("POST", "/api/runs/%E0%A4%A/stop"), 400);
});

test("live metrics: a half-written last line waits for the next read; a file rewritten shorter restarts", () => {
  const path = join(work, "metrics.jsonl");
  writeFileSync(path, '{"type":"train","step":1,"loss":2}\n{"type":"train","step":2,"lo');
  const first = readMetricsFrom(path);
  assert.deepEqual(
    first.rows.map((r) => r.step),
    [1],
  );
  appendFileSync(path, 'ss":1.5}\n');
  const second = readMetricsFrom(path, first.offset);
  assert.deepEqual(second.rows, [{ type: "train", step: 2, loss: 1.5 }]);
  assert.equal(second.restarted, false);
  writeFileSync(path, '{"type":"train","step":1,"loss":2}\n');
  const third = readMetricsFrom(path, second.offset);
  assert.equal(third.restarted, true);
  assert.deepEqual(
    third.rows.map((r) => r.step),
    [1],
  );
});

test("the workspace scan finds runs and sweeps by their marker, not inside checkpoints or other outputs", () => {
  const ws = join(work, "scan");
  for (const dir of ["runs/a", "b", "runs/a/checkpoints/x", "merged/m", "deep/1/2/3"])
    mkdirSync(join(ws, dir), { recursive: true });
  writeMarker(join(ws, "runs/a"), { kind: "run", status: "completed" });
  writeMarker(join(ws, "b"), { kind: "run", status: "interrupted" });
  writeMarker(join(ws, "merged/m"), { kind: "merged-model" });
  writeMarker(join(ws, "deep/1/2/3"), { kind: "run", status: "completed" });
  assert.deepEqual(listRunIds(ws), ["b", "runs/a"]);
  // A sweep is found as a sweep, and its trials as runs.
  mkdirSync(join(ws, "sw", "trials", "t0"), { recursive: true });
  writeMarker(join(ws, "sw"), { kind: "sweep" });
  writeMarker(join(ws, "sw", "trials", "t0"), { kind: "run", status: "completed" });
  assert.deepEqual(listRunIds(ws, "sweep"), ["sw"]);
  assert.deepEqual(listRunIds(ws), ["b", "runs/a", "sw/trials/t0"]);
});

test("the ETA is the pace of the last steps of one session times the steps left", () => {
  const rows = (pairs: [number, number][]): MetricRow[] =>
    pairs.map(([step, elapsed_s]) => ({ type: "train", step, elapsed_s }));
  assert.equal(etaSeconds(rows([[1, 0.5]]), 10), null);
  assert.equal(
    etaSeconds(
      rows([
        [1, 1],
        [2, 2],
        [3, 3],
      ]),
      10,
    ),
    7,
  );
  // A resumed session restarts elapsed_s: only its own steps count.
  assert.equal(
    etaSeconds(
      rows([
        [1, 1],
        [2, 2],
        [3, 0.5],
        [4, 1],
      ]),
      10,
    ),
    3,
  );
  assert.equal(
    etaSeconds(
      rows([
        [1, 1],
        [2, 2],
      ]),
      null,
    ),
    null,
  );
});

test("the length histogram covers every length in equal bins", () => {
  const h = histogram([3, 4, 10, 27], 4);
  assert.deepEqual(h, [
    { lo: 3, hi: 10, count: 2 },
    { lo: 10, hi: 17, count: 1 },
    { lo: 17, hi: 24, count: 0 },
    { lo: 24, hi: 31, count: 1 },
  ]);
  assert.equal(
    h.reduce((n, b) => n + b.count, 0),
    4,
  );
  assert.deepEqual(histogram([], 4), []);
});

test("token runs split an example into trained and masked stretches, cut at seq-len", () => {
  const ex = { ids: [5, 6, 7, 8, 9, 10], labels: [-100, -100, 7, 8, -100, 10] };
  assert.deepEqual(tokenRuns(ex, 6, null), [
    { text: "5 6", trained: false, tokens: 2 },
    { text: "7 8", trained: true, tokens: 2 },
    { text: "9", trained: false, tokens: 1 },
    { text: "10", trained: true, tokens: 1 },
  ]);
  // Position 0 is never trained (nothing predicts it); a cut drops the tail.
  assert.deepEqual(tokenRuns({ ids: [1, 2, 3], labels: [1, 2, 3] }, 2, null), [
    { text: "1", trained: false, tokens: 1 },
    { text: "2", trained: true, tokens: 1 },
  ]);
});

test("the settings diff lists differing keys first, with a blank for a key a run lacks", () => {
  const diff = settingsDiff([
    { model: "demo", lr: 0.001, rank: 8 },
    { model: "demo", lr: 0.0002, rank: 8, dora: true },
  ]);
  assert.deepEqual(diff, [
    { key: "lr", values: ["0.001", "0.0002"], differs: true },
    { key: "dora", values: ["", "true"], differs: true },
    { key: "model", values: ["demo", "demo"], differs: false },
    { key: "rank", values: ["8", "8"], differs: false },
  ]);
});

test("the command line names only values that differ from train's defaults, booleans as flags", () => {
  assert.deepEqual(
    commandArgs({
      model: "demo",
      data: "/w/d.jsonl",
      rank: 8,
      lr: 0.001,
      dora: true,
      shuffle: false,
      pack: false,
      out: "x",
    }),
    ["--model", "demo", "--data", "/w/d.jsonl", "--dora", "--no-shuffle", "--lr", "0.001"],
  );
});

test("loopback hosts: localhost, ::1 and 127.0.0.0/8; anything else is warned about", () => {
  for (const host of ["localhost", "::1", "127.0.0.1", "127.1.2.3"]) assert.ok(isLoopback(host), host);
  for (const host of ["0.0.0.0", "::", "192.168.1.5", "127.0.0.1.evil.com", "example.com"])
    assert.ok(!isLoopback(host), host);
});

test("a Playground history is a list of user/assistant turns; anything else is 400", () => {
  const turns = [
    { role: "user", content: "hi" },
    { role: "assistant", content: "hello", extra: 1 },
  ];
  assert.deepEqual(chatHistory(turns), [
    { role: "user", content: "hi" },
    { role: "assistant", content: "hello" },
  ]);
  assert.deepEqual(chatHistory(undefined), []);
  for (const bad of [
    {},
    [{ role: "system", content: "x" }],
    [{ role: "user" }],
    Array(65).fill({ role: "user", content: "" }),
  ])
    assert.equal(
      status(() => chatHistory(bad)),
      400,
    );
});
