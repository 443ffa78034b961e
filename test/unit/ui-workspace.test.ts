/** `loratune ui --workspace` must name an existing directory: a typo is refused, not served as an empty workspace. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { startUi } from "../../src/ui/server.ts";

test("startUi refuses a workspace that does not exist, naming it", async () => {
  await assert.rejects(
    startUi({ workspace: "/nonexistent/loratune-workspace", port: 0, host: "127.0.0.1", maxUploadBytes: 1 << 20 }),
    (e) =>
      isLoratuneError(e) &&
      e.code === "ERR_USAGE" &&
      /nonexistent\/loratune-workspace: no such directory/.test(e.message),
  );
});
