/**
 * Responses and request bodies for the UI server. Every JSON response is `{...}` with status 200, or
 * `{"error": message}` with the status of the refusal (HttpError) or 400 for a LoratuneError (the message is the
 * CLI's own wording, so the page can show it as it is).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError, isLoratuneError } from "../errors.ts";

/** Headers on every response: no caching of workspace data, no framing by other sites, no sniffing. */
const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/** The page's policy: scripts and styles from this server only (inline styles for the report's charts). */
const PAGE_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

export function sendJson(res: ServerResponse, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...COMMON_HEADERS, "content-type": "application/json; charset=utf-8" });
  res.end(text);
}

export function sendHtml(res: ServerResponse, html: string, status = 200): void {
  res.writeHead(status, {
    ...COMMON_HEADERS,
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": PAGE_CSP,
  });
  res.end(html);
}

export function sendText(res: ServerResponse, text: string, contentType: string, status = 200): void {
  res.writeHead(status, { ...COMMON_HEADERS, "content-type": contentType });
  res.end(text);
}

/** Bytes of a file loratune ships (the browser page's bundle, the demo model's files). */
export function sendBytes(res: ServerResponse, bytes: Uint8Array, contentType: string): void {
  res.writeHead(200, { ...COMMON_HEADERS, "content-type": contentType, "content-length": String(bytes.length) });
  res.end(bytes);
}

/**
 * A file of the workspace (a run's report.html, config.yaml, ...): sandboxed, so a page among them runs its own
 * scripts (the sweep report sorts its table) in an opaque origin, without the session's cookie or this origin's API.
 */
export function sendWorkspaceFile(res: ServerResponse, text: string, contentType: string): void {
  res.writeHead(200, {
    ...COMMON_HEADERS,
    "content-type": contentType,
    "content-security-policy": "sandbox allow-scripts",
  });
  res.end(text);
}

/** Sends the error as `{"error": message}`: an HttpError with its status, a LoratuneError as 400, else 500. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) sendJson(res, { error: err.message }, err.status);
  else if (isLoratuneError(err)) sendJson(res, { error: err.message, code: err.code }, 400);
  else sendJson(res, { error: `internal error: ${err instanceof Error ? err.message : String(err)}` }, 500);
}

/**
 * The request body as bytes, refused with 413 once it exceeds `limit` bytes (at once when Content-Length says
 * so, else as soon as the bytes received pass it; the connection is closed after the response).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `request body larger than the limit of ${limit} bytes (loratune ui --max-upload)`);
}

/** A JSON object body (at most `limit` bytes); 400 naming the problem when it is not one. */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const type = String(req.headers["content-type"] ?? "");
  if (!type.startsWith("application/json"))
    throw new HttpError(415, `expected a JSON body (content-type: application/json), got "${type || "none"}"`);
  const text = (await readBody(req, limit)).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `malformed JSON in the request body: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new HttpError(400, "expected a JSON object in the request body");
  return value as Record<string, unknown>;
}
