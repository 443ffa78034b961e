import assert from "node:assert/strict";
import { test } from "node:test";
import { ashaDecide, type RungResult, rungSteps } from "../../src/sweep/asha.ts";
import { gridConfigs, parseDimension, parseSpace, resolveConfig, sampleConfig } from "../../src/sweep/space.ts";
import { Rng } from "../../src/tensor/rng.ts";

test("the search space parser reads lists, ranges, rank multiples and target sets", () => {
  assert.deepEqual(parseDimension("rank", "4,16,64"), { key: "rank", kind: "list", values: [4, 16, 64] });
  assert.deepEqual(parseDimension("lr", "1e-4..1e-2:log"), {
    key: "lr",
    kind: "range",
    lo: 1e-4,
    hi: 1e-2,
    scale: "log",
  });
  assert.deepEqual(parseDimension("lr", "1e-4..1e-2"), { key: "lr", kind: "range", lo: 1e-4, hi: 1e-2, scale: "log" });
  assert.deepEqual(parseDimension("dropout", "0..0.1:lin"), {
    key: "dropout",
    kind: "range",
    lo: 0,
    hi: 0.1,
    scale: "linear",
  });
  assert.deepEqual(parseDimension("alpha", "2r,16"), { key: "alpha", kind: "list", values: ["2r", 16] });
  assert.deepEqual(parseDimension("targets", "q_proj,v_proj|all-linear"), {
    key: "targets",
    kind: "list",
    values: ["q_proj,v_proj", "all-linear"],
  });
  assert.deepEqual(parseDimension("rank", [4, 16]), { key: "rank", kind: "list", values: [4, 16] });
  assert.deepEqual(resolveConfig({ rank: 16, alpha: "2r" }, 8), { rank: 16, alpha: 32 });
  assert.deepEqual(resolveConfig({ alpha: "0.5r" }, 8), { alpha: 4 });
});

test("bad ranges and unknown settings are errors that name the token", () => {
  const bad: [string, string, RegExp][] = [
    ["lr", "1e-2..1e-4", /--lr: "1e-2\.\.1e-4" is not a range: its low end must be below its high end/],
    ["lr", "0..1e-2:log", /--lr: "0" must be greater than 0/],
    ["lr", "1e-4..1e-2:cubic", /--lr: "1e-4\.\.1e-2:cubic" has the unknown scale ":cubic"/],
    ["dropout", "0..1", /--dropout: "1" must be in \[0, 1\)/],
    ["rank", "4,x,16", /--rank: "x" is not a number/],
    ["rank", "4,2.5", /--rank: "2\.5" is not a rank \(an integer ≥ 1\)/],
    ["rank", "4..16", /--rank: "4\.\.16" is a range, but --rank takes a list/],
    ["alpha", "2q", /--alpha: "2q" is not a number/],
    ["alpha", "2rr", /--alpha: "2rr" is neither a number nor a multiple of the rank/],
    ["targets", "q_proj||v_proj", /--targets: "q_proj\|\|v_proj" has an empty alternative/],
    ["lrr", "1e-3", /sweep: "lrr" is not a setting a sweep can search/],
    ["rank", "4,,16", /--rank: "4,,16" has an empty item \(values are separated by ","\)/],
    ["alpha", "2r,", /--alpha: "2r," has an empty item/],
    ["lr", "1e-4..", /--lr: "1e-4\.\." is not a range: it needs both ends \(lo\.\.hi\)/],
    ["dropout", "..0.1:lin", /--dropout: "\.\.0\.1:lin" is not a range: it needs both ends/],
    ["lr", " ", /--lr: " " is empty/],
  ];
  for (const [key, text, re] of bad) assert.throws(() => parseDimension(key, text), re, `${key} ${text}`);
  assert.throws(() => parseSpace({}), /nothing to search/);
  assert.throws(
    () => gridConfigs(parseSpace({ lr: "1e-4..1e-2" })),
    /--strategy grid needs lists, but --lr is a range/,
  );
});

test("grid configurations vary the last setting fastest; samples stay in their ranges", () => {
  const space = parseSpace({ rank: "4,16", alpha: "2r,16" });
  assert.deepEqual(gridConfigs(space), [
    { rank: 4, alpha: "2r" },
    { rank: 4, alpha: 16 },
    { rank: 16, alpha: "2r" },
    { rank: 16, alpha: 16 },
  ]);
  const rng = new Rng(1);
  const ranged = parseSpace({ lr: "1e-4..1e-2:log", rank: "4,64" });
  for (let i = 0; i < 200; i++) {
    const c = sampleConfig(ranged, rng);
    assert.ok((c.lr as number) >= 1e-4 * 0.999 && (c.lr as number) <= 1e-2 * 1.001);
    assert.ok(c.rank === 4 || c.rank === 64);
  }
});

test("rungs are --steps / reduction^k rounded to evaluations", () => {
  assert.deepEqual(rungSteps(3000, 333, 3, 100), [300, 1000, 3000]);
  assert.deepEqual(rungSteps(9, 1, 3, 1), [1, 3, 9]);
  assert.deepEqual(rungSteps(100, 100, 3, 10), [100]);
});

const r = (trial: number, rung: number, score: number, tie = 0): RungResult => ({ trial, rung, score, tie });

test("ASHA promotes the best of the top 1/eta not yet promoted, highest rung first, else starts a trial", () => {
  const base = { scheduled: new Set<string>(), busy: new Set<number>(), rungs: 3, eta: 3, canStart: true };
  // Two results at rung 0: floor(2/3) = 0 may be promoted, so a new trial starts.
  assert.deepEqual(ashaDecide({ ...base, results: [r(0, 0, 2), r(1, 0, 1)] }), { kind: "new" });
  // Three: the best (trial 1) goes to rung 1.
  const three = [r(0, 0, 2), r(1, 0, 1), r(2, 0, 3)];
  assert.deepEqual(ashaDecide({ ...base, results: three }), { kind: "promote", trial: 1, rung: 1 });
  // Trial 1 already has its rung-1 job: nothing more to promote from three results.
  const scheduled = new Set(["1@1"]);
  assert.deepEqual(ashaDecide({ ...base, results: three, scheduled }), { kind: "new" });
  // Six: the top two are trials 1 and 4; 1 is promoted, so 4 goes next.
  const six = [...three, r(3, 0, 5), r(4, 0, 1.5), r(5, 0, 9)];
  assert.deepEqual(ashaDecide({ ...base, results: six, scheduled }), { kind: "promote", trial: 4, rung: 1 });
  // A higher rung goes first: three rung-1 results promote their best to rung 2.
  const upper = [...six, r(1, 1, 0.5), r(4, 1, 0.4), r(0, 1, 0.9)];
  const both = new Set(["1@1", "4@1", "0@1"]);
  assert.deepEqual(ashaDecide({ ...base, results: upper, scheduled: both }), { kind: "promote", trial: 4, rung: 2 });
  // Ties on the score are broken by `tie` (the validation loss), then by trial order.
  const tied = [r(0, 0, 0, 2), r(1, 0, 0, 1), r(2, 0, 0, 3)];
  assert.deepEqual(ashaDecide({ ...base, results: tied }), { kind: "promote", trial: 1, rung: 1 });
  // Nothing to promote and no trial left to start.
  assert.deepEqual(ashaDecide({ ...base, results: [r(0, 0, 1)], canStart: false }), { kind: "none" });
});
