/**
 * The Playground's behaviour (browser JavaScript): sends each message to POST /api/generate twice, once for the
 * base model and once adapted, and appends each streamed token to its column as it arrives (the response is read
 * as server-sent events from the fetch body). With the chat template on, each column keeps its own conversation
 * (its model's replies) and sends it as `history`; "New chat" forgets both. Stop aborts both streams.
 */
export const PLAYGROUND_SCRIPT = String.raw`
function playgroundPage() {
  const form = $("#playground");
  const history = { base: [], adapted: [] };
  let controller = null;
  async function stream(side, request, signal) {
    const out = $("#out-" + side);
    const chat = request.chat;
    if (!chat) { out.textContent = ""; history[side] = []; }
    if (chat) out.append(h("div", { class: "turn-user" }, "You: " + request.prompt));
    const reply = h("div", { class: "turn-model", "data-tokens": "0" }, "");
    out.append(reply);
    out.dataset.tokens = "0";
    $("#stat-" + side).textContent = "";
    const body = Object.assign({ adapted: side === "adapted", history: chat ? history[side] : [] }, request);
    const res = await fetch("/api/generate", { method: "POST", credentials: "same-origin", signal: signal, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || "HTTP " + res.status);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = (/^event: (.*)$/m.exec(block) || [])[1];
        const data = JSON.parse((/^data: (.*)$/m.exec(block) || [])[1] || "{}");
        if (event === "token") {
          reply.append(data.text);
          out.dataset.tokens = String(Number(out.dataset.tokens) + 1);
        } else if (event === "done") {
          $("#stat-" + side).textContent = "stopped by " + data.stoppedBy + ", " + Math.round(data.tokensPerS) + " tokens/s";
          if (chat) history[side].push({ role: "user", content: request.prompt }, { role: "assistant", content: data.text || "" });
        } else if (event === "error") throw new Error(data.error);
      }
    }
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#g-error").textContent = "";
    const request = { run: $("#g-run").value, prompt: $("#g-prompt").value, chat: $("#g-chat").checked };
    for (const input of $$("[id^=g-]", form)) if (input.inputMode === "decimal" && input.value.trim() !== "") request[input.name] = input.value.trim();
    controller = new AbortController();
    $("#send-button").disabled = true;
    $("#stop-generate").disabled = false;
    const results = await Promise.allSettled(["base", "adapted"].map((side) => stream(side, request, controller.signal)));
    const failed = results.find((r) => r.status === "rejected" && r.reason.name !== "AbortError");
    if (failed) $("#g-error").textContent = failed.reason.message;
    $("#send-button").disabled = false;
    $("#stop-generate").disabled = true;
    $("#g-prompt").value = "";
    $("#g-prompt").focus();
  });
  $("#stop-generate").addEventListener("click", () => controller && controller.abort());
  const forget = () => {
    history.base = [];
    history.adapted = [];
    $("#out-base").textContent = "";
    $("#out-adapted").textContent = "";
  };
  $("#new-chat").addEventListener("click", forget);
  $("#g-run").addEventListener("change", forget);
}
`;
