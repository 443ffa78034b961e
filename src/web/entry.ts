/**
 * The browser bundle's entry (scripts/build-web.ts bundles it as dist-web/loratune-web.js): starts the page
 * (app.ts) once the document is parsed.
 */
import { startPage } from "./app.ts";

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => void startPage());
else void startPage();
