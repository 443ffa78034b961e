/**
 * The UI server's guards:
 *  - every request carries the session token: `?token=` (the printed URL; the page then keeps it in a
 *    SameSite=Strict cookie), `Authorization: Bearer TOKEN` (scripts), or that cookie; else 401;
 *  - a state-changing request (anything but GET/HEAD) from another origin is refused (403): its Origin header, when
 *    present, must be this server's, and Sec-Fetch-Site must not say cross-site;
 *  - paths are confined: a path given by a request resolves (symbolic links followed) inside the workspace, or
 *    inside a model folder the user named, else 403.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { resolve } from "node:path";
import { HttpError } from "../errors.ts";
import { canonicalPath, isInside } from "../io/output-guard.ts";

export const TOKEN_COOKIE = "loratune_ui_token";

export function newSessionToken(): string {
  return randomBytes(24).toString("base64url");
}

/** The token a request presents (query, bearer header or cookie), or null. */
export function presentedToken(req: IncomingMessage, url: URL): string | null {
  const fromQuery = url.searchParams.get("token");
  if (fromQuery) return fromQuery;
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  for (const part of String(req.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === TOKEN_COOKIE) return value.join("=");
  }
  return null;
}

/** Throws 401 unless the request presents `token`. */
export function checkToken(req: IncomingMessage, url: URL, token: string): void {
  const given = presentedToken(req, url);
  const a = Buffer.from(given ?? "");
  const b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new HttpError(
      401,
      given === null
        ? "missing session token: open the URL loratune ui printed (it carries ?token=...)"
        : "wrong session token",
    );
  }
}

/** Throws 403 for a state-changing request from another origin than `origin` ("http://127.0.0.1:PORT"). */
export function checkOrigin(req: IncomingMessage, origin: string): void {
  if (req.method === "GET" || req.method === "HEAD") return;
  const from = req.headers.origin;
  if (from !== undefined && from !== origin)
    throw new HttpError(403, `cross-origin request refused: Origin ${from} is not ${origin}`);
  if (req.headers["sec-fetch-site"] === "cross-site") throw new HttpError(403, "cross-site request refused");
}

/**
 * `path` (relative to `roots[0]`, or absolute) resolved, when it lies inside one of `roots`; 403 naming `what`
 * and `where` (what the roots are, for the message) otherwise.
 */
export function confine(path: string, roots: readonly string[], what: string, where = "the workspace"): string {
  if (path.includes("\0")) throw new HttpError(400, `${what}: a path may not hold a NUL character`);
  const full = resolve(roots[0] ?? ".", path);
  if (!roots.some((root) => isInside(canonicalPath(full), canonicalPath(root))))
    throw new HttpError(403, `${what} ${JSON.stringify(path)} is outside ${where}; refused`);
  return full;
}
