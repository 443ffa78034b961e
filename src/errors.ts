/**
 * Typed errors. Every error a user can cause is a LoratuneError with a stable `code`; the CLI prints its
 * message in one or two lines without a stack trace and exits with `exitCode` (1, or 2 for usage errors).
 */
export type ErrorCode =
  | "ERR_USAGE"
  | "ERR_SAFETENSORS_HEADER"
  | "ERR_SAFETENSORS_TENSOR"
  | "ERR_SAFETENSORS_INDEX"
  | "ERR_GGUF"
  | "ERR_IO"
  | "ERR_CONFIG"
  | "ERR_UNSUPPORTED"
  | "ERR_ADAPTER_CONFIG"
  | "ERR_ADAPTER_KEYS"
  | "ERR_TOKENIZER"
  | "ERR_DATA"
  | "ERR_NONFINITE"
  | "ERR_CHECKPOINT"
  | "ERR_OUTPUT_EXISTS"
  | "ERR_NATIVE"
  | "ERR_MEMORY";

export class LoratuneError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LoratuneError";
    this.code = code;
    this.exitCode = code === "ERR_USAGE" ? 2 : 1;
  }
}

export function isLoratuneError(err: unknown): err is LoratuneError {
  return err instanceof LoratuneError;
}

/**
 * An HTTP request the UI server refuses (src/ui/): `status` is the response code (401 without the session token,
 * 403 for a path outside the workspace or a cross-origin request, 413 for an upload over the limit, 400 for a
 * body that is not the JSON expected), and the message is the response's `error`.
 */
export class HttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}
