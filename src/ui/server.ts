/**
 * `loratune ui`'s server (node:http): pages and the JSON API (src/ui/api-*.ts, documented in docs/ui-api.md) on
 * 127.0.0.1 by default. Every request is checked for the session token and, when it changes state, its origin
 * (security.ts) before it reaches a route. `startUi` resolves once the server listens, with the URL to open.
 */

import { statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { HttpError, isLoratuneError, LoratuneError } from "../errors.ts";
import { apiRoutes } from "./api-routes.ts";
import type { UiContext } from "./context.ts";
import { sendError } from "./http.ts";
import { Launcher } from "./launcher.ts";
import { pageRoutes } from "./page-routes.ts";
import { ModelCache } from "./playground.ts";
import { Router } from "./router.ts";
import { checkOrigin, checkToken, newSessionToken, TOKEN_COOKIE } from "./security.ts";
import { webRoutes } from "./web-routes.ts";

export interface UiOptions {
  workspace: string;
  /** 0: any free port. */
  port: number;
  host: string;
  /** Largest upload in bytes. */
  maxUploadBytes: number;
  modelPaths?: string[];
  /** A fixed token (tests); else a random one. */
  token?: string;
  /** The built browser page served at /webgpu/ (tests); else the package's dist-web/. */
  webDir?: string;
}

export interface UiServer {
  /** The URL to open, with the session token. */
  url: string;
  origin: string;
  token: string;
  context: UiContext;
  /** Stops the runs this server started (each checkpoints), then the server. */
  close(): Promise<void>;
}

export async function startUi(o: UiOptions): Promise<UiServer> {
  if (!statSync(o.workspace, { throwIfNoEntry: false })?.isDirectory()) {
    throw new LoratuneError("ERR_USAGE", `--workspace ${o.workspace}: no such directory (create it, or name another)`);
  }
  const ctx: UiContext = {
    workspace: resolve(o.workspace),
    modelPaths: (o.modelPaths ?? []).map((p) => resolve(p)),
    token: o.token ?? newSessionToken(),
    origin: "",
    maxUploadBytes: o.maxUploadBytes,
    launcher: new Launcher(),
    models: new ModelCache(),
    ...(o.webDir !== undefined ? { webDir: resolve(o.webDir) } : {}),
  };
  const router = new Router().add(...pageRoutes(ctx), ...webRoutes(ctx), ...apiRoutes(ctx));
  const server = createServer((req, res) => void handle(ctx, router, req, res));
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(o.port, o.host, () => done());
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  ctx.origin = `http://${host}:${port}`;
  return {
    url: `${ctx.origin}/?token=${ctx.token}`,
    origin: ctx.origin,
    token: ctx.token,
    context: ctx,
    close: () => closeUi(ctx, server),
  };
}

async function handle(ctx: UiContext, router: Router, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const url = new URL(req.url ?? "/", ctx.origin);
    checkToken(req, url, ctx.token);
    checkOrigin(req, ctx.origin);
    if (url.searchParams.has("token") && req.method === "GET" && !url.pathname.startsWith("/api/")) {
      // The printed URL: keep the token in a cookie the browser sends to this origin only, and drop it from the URL.
      url.searchParams.delete("token");
      res.writeHead(303, {
        location: `${url.pathname}${url.search}`,
        "set-cookie": `${TOKEN_COOKIE}=${ctx.token}; HttpOnly; SameSite=Strict; Path=/`,
        "cache-control": "no-store",
      });
      res.end();
      return;
    }
    await router.dispatch(req, res, url);
  } catch (err) {
    if (!(err instanceof HttpError) && !isLoratuneError(err)) logUnexpected(err);
    sendError(res, err);
  }
}

/** An error no request should cause (a bug): its stack goes to the terminal; the page gets a 500. */
function logUnexpected(err: unknown): void {
  console.error(`loratune ui: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}

async function closeUi(ctx: UiContext, server: Server): Promise<void> {
  await ctx.launcher.stopAll();
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
}
