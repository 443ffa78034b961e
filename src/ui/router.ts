/**
 * A route table: method, a path pattern with `:name` parameters (one path segment each, percent-decoded), and the
 * handler. The first route that matches handles the request; a path that matches none is 404, a path that
 * matches only under another method 405.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "../errors.ts";

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export interface Route {
  method: "GET" | "POST";
  pattern: string;
  handle: (r: RouteRequest) => unknown | Promise<unknown>;
}

interface Compiled extends Route {
  regex: RegExp;
  names: string[];
}

export class Router {
  private readonly routes: Compiled[] = [];

  add(...routes: Route[]): this {
    for (const r of routes) {
      const names: string[] = [];
      const source = r.pattern.replace(/:(\w+)/g, (_, name: string) => {
        names.push(name);
        return "([^/]+)";
      });
      this.routes.push({ ...r, regex: new RegExp(`^${source}$`), names });
    }
    return this;
  }

  /** Finds and runs the handler of the request. */
  async dispatch(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    let other = false;
    for (const r of this.routes) {
      const m = r.regex.exec(url.pathname);
      if (!m) continue;
      if (r.method !== req.method && !(r.method === "GET" && req.method === "HEAD")) {
        other = true;
        continue;
      }
      const params: Record<string, string> = {};
      r.names.forEach((name, i) => {
        params[name] = decodeSegment(m[i + 1]!);
      });
      await r.handle({ req, res, url, params });
      return;
    }
    throw other
      ? new HttpError(405, `${req.method} is not allowed on ${url.pathname}`)
      : new HttpError(404, `no such page or API endpoint: ${url.pathname}`);
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the path: ${s}`);
  }
}
