/**
 * `sweep()` from the library: the option table's bounds and the search-space parser's errors reach a library
 * caller in its own property names (`minSteps`, `rank`), before anything is read or trained.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { withDefaults } from "../../src/api/options.ts";
import { LoratuneError, SWEEP_OPTIONS, type SweepOptions, sweep } from "../../src/index.ts";
import { planOf } from "../../src/sweep/options.ts";

const out = join(mkdtempSync(join(tmpdir(), "loratune-sweep-lib-")), "s");
const base: SweepOptions = { model: "demo", data: "train.jsonl", val: "val.jsonl", out };

/** The message sweep() rejects with (a LoratuneError). */
async function refusal(o: SweepOptions): Promise<string> {
  const err = await sweep(o).then(
    () => assert.fail("sweep() should have refused"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof LoratuneError, String(err));
  return err.message;
}

test("sweep() names the caller's options in its errors", async () => {
  assert.equal(await refusal({ ...base, rank: "4", minSteps: -1 }), "minSteps: must be at least 0 (got -1)");
  assert.equal(await refusal({ ...base, rank: "4,x" }), 'rank: "x" is not a number');
  assert.match(await refusal({ ...base, lr: "1e-2..1e-4" }), /^lr: "1e-2\.\.1e-4" is not a range/);
  assert.match(
    await refusal(base),
    /^sweep: nothing to search; give at least one of rank, lr, alpha, dropout, targets/,
  );
  assert.match(await refusal({ ...base, val: undefined, rank: "4" } as SweepOptions), /give val FILE or valSplit/);
  assert.equal(
    await refusal({ rank: "4" } as unknown as SweepOptions),
    "sweep: missing required options out, model, data",
  );
});

test("promotePer names a searched list setting, with asha and a fixed set of trials", async () => {
  const grid = { ...base, strategy: "grid" as const, rank: "4,16", promotePer: "rank" };
  assert.equal(
    await refusal(grid),
    'promotePer "rank": only strategy asha promotes trials (grid trains every trial to steps)',
  );
  assert.equal(
    await refusal({ ...base, rank: "4,16", lr: "1e-4,1e-3", promotePer: "dropout" }),
    'promotePer: "dropout" is not searched by this sweep (it searches rank, lr)',
  );
  assert.match(
    await refusal({ ...base, rank: "4,16", lr: "1e-4..1e-2", promotePer: "rank" }),
    /^promotePer "rank": each value's trials must be a fixed set .* but lr is a range drawn without end; give trials N/,
  );
});

test("the trials share the train options, and --no-memory-check reaches them", () => {
  const values = withDefaults(SWEEP_OPTIONS, {
    model: "demo",
    data: "t.jsonl",
    out,
    "memory-check": false,
    json: true,
  });
  const plan = planOf(values, { rank: "4,8" });
  assert.equal(plan.train["memory-check"], false);
  assert.equal(plan.train["batch-size"], 4);
  for (const key of ["out", "overwrite", "json", "steps", "rank"]) assert.ok(!(key in plan.train), key);
});
