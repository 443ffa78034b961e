/**
 * /assets/app.js: the one script of every page. The shared helpers come first, then each page's behaviour, and
 * the page's `data-page` attribute picks the one to start. Plain browser JavaScript, no build step, no network
 * beyond this server.
 */
import { COMMON_SCRIPT } from "./common-script.ts";
import { NEW_RUN_SCRIPT } from "./new-run-script.ts";
import { PLAYGROUND_SCRIPT } from "./playground-script.ts";
import { RUN_SCRIPT } from "./run-script.ts";
import { RUNS_SCRIPT } from "./runs-script.ts";

export const APP_SCRIPT = `(() => {
${COMMON_SCRIPT}
${RUNS_SCRIPT}
${NEW_RUN_SCRIPT}
${RUN_SCRIPT}
${PLAYGROUND_SCRIPT}
const pages = { runs: runsPage, "new-run": newRunPage, run: runPage, playground: playgroundPage };
const start = pages[document.body.dataset.page];
if (start) start();
})();
`;
