/**
 * The backward pass, the mirror of forward.ts: from acts.dlnf (filled by the chunked loss) through the family's
 * final norm and blocks down to the embeddings. Parameter gradients accumulate into the model's
 * dWeight/dA/dB/grad buffers; frozen weights get none.
 * With activation checkpointing (acts.checkpoint) each layer below the last first runs its forward again from its
 * saved input, refilling the shared buffers (LoRA dropout replays the masks of the first run); a family may leave
 * its row-wise tail out of that recompute and redo it a row chunk at a time in its backward (the Llama MLP does).
 */
import type { Kernels } from "../kernels/types.ts";
import type { Activations } from "./activations.ts";
import type { ModelInput } from "./forward.ts";
import type { Model } from "./model.ts";

export function backward(k: Kernels, model: Model, acts: Activations, input: ModelInput): void {
  const c = model.config;
  const f = model.family;
  const N = input.B * input.T;
  // dres = gradient w.r.t. the residual stream after the last layer.
  f.finalBackward(k, model, acts.dres, acts.dlnf, acts.final, acts.top, N);
  for (let l = c.numLayers - 1; l >= 0; l--) {
    // The last layer's buffers still hold its forward; dtmp is free scratch for the recomputed output.
    if (acts.checkpoint && l < c.numLayers - 1) {
      f.layerForward(k, model, model.layers[l], acts.layers[l]!, acts.dtmp, input, "replay");
    }
    // Below layer 0 only the embeddings can take a gradient (the family adds its own needs, e.g. an input norm).
    const needInputGrad = l > 0 || model.dEmbed !== null;
    f.layerBackward(k, model, model.layers[l], acts.layers[l]!, acts, input, needInputGrad);
  }
  f.embedBackward(k, model, acts.dres, input.ids, input.pos, N);
}
