/**
 * The launch side of an exported job: a DeepSpeed ZeRO-2 config and accelerate configs for several GPUs (plain
 * data parallel, DeepSpeed, FSDP), and the commands that use them, for one engine. Values the trainer already
 * holds (batch size, accumulation, clipping, precision) are "auto" in the DeepSpeed config, so they come from the
 * job's config rather than being said twice.
 */
import { stringify as toYaml } from "yaml";
import { AXOLOTL_CONFIG_FILE } from "./job-axolotl.ts";
import type { JobEngine } from "./job-data.ts";
import { TRL_SCRIPT } from "./job-trl.ts";

export const DEEPSPEED_CONFIG = "deepspeed_zero2.json";

/** The files of the launch side: name → text. */
export function launchFiles(bf16: boolean): Record<string, string> {
  const deepspeed = {
    zero_optimization: { stage: 2, overlap_comm: true, contiguous_gradients: true },
    bf16: { enabled: "auto" },
    train_micro_batch_size_per_gpu: "auto",
    gradient_accumulation_steps: "auto",
    gradient_clipping: "auto",
    train_batch_size: "auto",
  };
  const common = {
    compute_environment: "LOCAL_MACHINE",
    num_machines: 1,
    machine_rank: 0,
    num_processes: 2,
    mixed_precision: bf16 ? "bf16" : "no",
  };
  const yaml = (o: object) =>
    `# accelerate config written by loratune export-job; set num_processes to your GPU count\n${toYaml(o)}`;
  return {
    [DEEPSPEED_CONFIG]: `${JSON.stringify(deepspeed, null, 2)}\n`,
    "accelerate_multi_gpu.yaml": yaml({ ...common, distributed_type: "MULTI_GPU" }),
    "accelerate_deepspeed.yaml": yaml({
      ...common,
      distributed_type: "DEEPSPEED",
      deepspeed_config: { deepspeed_config_file: DEEPSPEED_CONFIG, zero3_init_flag: false },
    }),
    "accelerate_fsdp.yaml": yaml({
      ...common,
      distributed_type: "FSDP",
      fsdp_config: {
        fsdp_auto_wrap_policy: "TRANSFORMER_BASED_WRAP",
        fsdp_sharding_strategy: "FULL_SHARD",
        fsdp_state_dict_type: "SHARDED_STATE_DICT",
        fsdp_use_orig_params: true,
        fsdp_sync_module_states: true,
        fsdp_offload_params: false,
      },
    }),
  };
}

/** The launch commands, as [what, command] pairs. */
export function launchCommands(engine: JobEngine): [string, string][] {
  const run = engine === "axolotl" ? `-m axolotl.cli.train ${AXOLOTL_CONFIG_FILE}` : TRL_SCRIPT;
  const one = engine === "axolotl" ? `axolotl train ${AXOLOTL_CONFIG_FILE}` : `python ${TRL_SCRIPT}`;
  return [
    ["one GPU", one],
    [
      "several GPUs, data parallel",
      `accelerate launch --config_file accelerate_multi_gpu.yaml --num_processes N ${run}`,
    ],
    [
      "several GPUs, DeepSpeed ZeRO-2",
      `accelerate launch --config_file accelerate_deepspeed.yaml --num_processes N ${run}`,
    ],
    [
      "several GPUs, FSDP (full shard)",
      `accelerate launch --config_file accelerate_fsdp.yaml --num_processes N ${run}`,
    ],
  ];
}
