import assert from "node:assert/strict";
import { test } from "node:test";
import { renderLrFindPage } from "../../src/report/lr-find.ts";
import { type LrPoint, rangeLr, SUGGESTION_RULE, suggestLr } from "../../src/train/lr-range.ts";

test("rangeLr grows exponentially from the start to the end rate", () => {
  assert.equal(rangeLr(0, 5, 1e-6, 1e-2), 1e-6);
  assert.ok(Math.abs(rangeLr(4, 5, 1e-6, 1e-2) - 1e-2) < 1e-15);
  assert.ok(Math.abs(rangeLr(2, 5, 1e-6, 1e-2) - 1e-4) < 1e-17);
});

/** Points of a valley: the smoothed loss falls to its minimum at lr 1e-2 (index 4), then rises. */
function valley(): LrPoint[] {
  const smoothed = [5, 4.9, 4, 2, 1.5, 3, 9];
  return smoothed.map((s, i) => ({ step: i + 1, lr: 10 ** (i - 6), loss: s, smoothed: s }));
}

test("suggestLr: the minimum's learning rate divided by 10, the steepest descent beside it", () => {
  const s = suggestLr(valley());
  assert.equal(s.minLossLr, 1e-2);
  assert.equal(s.minLoss, 1.5);
  assert.ok(Math.abs(s.lr - 1e-3) < 1e-18);
  assert.equal(s.steepestLr, 1e-3, "the drop 4 -> 2 is the steepest");
  assert.equal(s.rule, SUGGESTION_RULE);
  assert.throws(() => suggestLr(valley().slice(0, 1)), /diverged after 1 step: lower --start-lr/);
});

test("the lr-find page charts the curve, marks the suggestion and states the rule", () => {
  const points = valley();
  const html = renderLrFindPage({ title: "t", points, suggestion: suggestLr(points), diverged: true, settings: {} });
  assert.match(html, /data-series="suggested"/);
  assert.match(html, /suggested learning rate/);
  assert.match(html, new RegExp(SUGGESTION_RULE));
  assert.match(html, /stopped: the loss diverged/);
  assert.doesNotMatch(html, /<script|src=|href=/);
});
