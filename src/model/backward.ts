/**
 * The backward pass, the mirror of forward.ts: from acts.dlnf (filled by the chunked loss) through the family's
 * final norm and blocks down to the embeddings. Parameter gradients accumulate into the model's
 * dWeight/dA/dB/grad buffers; frozen weights get none.
 * With activation checkpointing (acts.checkpoint) each layer below the last first runs its forward again from its
 * saved input, refilling the shared buffers (LoRA dropout replays the masks of the first run); a family may leave
 * its row-wise tail out of that recompute and redo it a row chunk at a time in its backward (the Llama MLP does).
 * As forward, each block (and the final norm, whose weight's gradient sums over rows) runs the batch in its
 * sequence groups, one after another.
 */
import type { Kernels } from "../kernels/types.ts";
import type { Activations } from "./activations.ts";
import type { ModelInput } from "./forward.ts";
import { GroupViews, rowsOf, sequenceGroups, subInput } from "./groups.ts";
import type { Model } from "./model.ts";

export function backward(k: Kernels, model: Model, acts: Activations, input: ModelInput): void {
  const c = model.config;
  const f = model.family;
  const N = input.B * input.T;
  const groups = [...sequenceGroups(input.B, acts.groupSeqs)];
  if (groups.length === 1) {
    // dres = gradient w.r.t. the residual stream after the last layer.
    f.finalBackward(k, model, acts.dres, acts.dlnf, acts.final, acts.top, N);
    for (let l = c.numLayers - 1; l >= 0; l--) {
      // The last layer's buffers still hold its forward; dtmp is free scratch for the recomputed output.
      if (acts.checkpoint && l < c.numLayers - 1) {
        f.layerForward(k, model, model.layers[l], acts.layers[l]!, acts.dtmp, input, "replay");
      }
      f.layerBackward(k, model, model.layers[l], acts.layers[l]!, acts, input, needInputGrad(model, l));
    }
  } else {
    groupedBackward(k, model, acts, input, groups);
  }
  f.embedBackward(k, model, acts.dres, input.ids, input.pos, N);
}

/** Below layer 0 only the embeddings can take a gradient (the family adds its own needs, e.g. an input norm). */
const needInputGrad = (model: Model, l: number) => l > 0 || model.dEmbed !== null;

/** backward's blocks and final norm over several sequence groups (an arena holding the whole batch). */
function groupedBackward(
  k: Kernels,
  model: Model,
  acts: Activations,
  input: ModelInput,
  groups: [number, number][],
): void {
  const f = model.family;
  const T = input.T;
  const views = new GroupViews(model, acts);
  const at = (b: Float32Array, r0: number, rows: number) => rowsOf(b, acts.N, r0, rows);
  for (const [b0, nb] of groups) {
    const [r0, rows] = [b0 * T, nb * T];
    const top = Object.fromEntries(Object.entries(acts.top).map(([name, b]) => [name, at(b, r0, rows)]));
    const dlnf = at(acts.dlnf, r0, rows);
    f.finalBackward(k, model, at(acts.dres, r0, rows), dlnf, at(acts.final, r0, rows), top, rows);
  }
  for (let l = model.config.numLayers - 1; l >= 0; l--) {
    for (const [b0, nb] of groups) {
      const [r0, rows] = [b0 * T, nb * T];
      const la = views.layer(l, r0, rows);
      const sub = subInput(input, b0, nb);
      if (acts.checkpoint && l < model.config.numLayers - 1) {
        f.layerForward(k, model, model.layers[l], la, at(acts.dtmp, r0, rows), sub, "replay");
      }
      f.layerBackward(k, model, model.layers[l], la, views.backward(r0, rows), sub, needInputGrad(model, l));
    }
  }
}
