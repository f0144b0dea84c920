// qmdr dashboard: small progressive enhancements. Every page works without this file.
"use strict";

// Forms marked data-confirm ask before removing something.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// --- Memory: reindex in the background with a live progress bar ----------------------------------
function setupReindex() {
  const card = document.getElementById("reindex");
  const form = document.getElementById("reindex-form");
  if (!card || !form) return;
  const button = document.getElementById("reindex-button");
  const wrap = document.getElementById("reindex-progress");
  const bar = document.getElementById("reindex-bar");
  const text = document.getElementById("reindex-text");
  const pollMs = Number(card.dataset.pollMs) || 500;

  function show(status) {
    wrap.hidden = false;
    const p = status.progress || {};
    if (status.state === "running") {
      bar.max = p.total || 1;
      bar.value = p.done || 0;
      if (!p.total) bar.removeAttribute("value"); // indeterminate while scanning
      text.textContent = `Running (${status.name || "default"}): ${p.phase || "starting"} ${p.done || 0}/${p.total || "?"}`;
    } else if (status.state === "done") {
      bar.max = 1; bar.value = 1;
      const s = status.summary || {};
      text.textContent = `Done (${status.name || "default"}): ${s.added || 0} added, ${s.changed || 0} changed, ${s.removed || 0} removed, ` +
        `${s.unchanged || 0} unchanged, ${s.embedded || 0} texts embedded.`;
    } else if (status.state === "failed") {
      text.textContent = `Failed (${status.name || "default"}): ${status.error || "unknown error"}`;
    }
  }

  // every vault's counts from GET /vaults (the API route, same session)
  async function refreshStats() {
    const response = await fetch("/vaults", { credentials: "same-origin" });
    if (!response.ok) return;
    for (const vault of (await response.json()).vaults || []) {
      const row = document.querySelector(`[data-vault="${CSS.escape(vault.name)}"]`);
      if (!row) continue;
      const index = vault.index || {};
      for (const name of ["notes", "chunks", "vectors"]) {
        const cell = row.querySelector(`[data-stat="${name}"]`);
        if (cell && index[name] !== undefined) cell.textContent = index[name];
      }
      const last = row.querySelector('[data-stat="last_reindex"]');
      if (last && index.last_reindex) last.textContent = new Date(index.last_reindex).toUTCString();
    }
  }

  async function poll() {
    try {
      const response = await fetch("/reindex/status", { credentials: "same-origin" });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const status = await response.json();
      show(status);
      card.dataset.state = status.state;
      if (status.state === "running") { window.setTimeout(poll, pollMs); return; }
      await refreshStats();
    } catch (error) {
      text.textContent = `Could not read the reindex status (${error.message}); reload the page.`;
    }
    button.disabled = false;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    wrap.hidden = false;
    text.textContent = "Starting…";
    try {
      const response = await fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 202 || response.status === 409) {
        if (response.status === 409) text.textContent = "A reindex is already running…";
        poll();
        return;
      }
      text.textContent = `Could not start: ${body.detail || response.statusText}`;
    } catch (error) {
      text.textContent = `Could not start: ${error.message}`;
    }
    button.disabled = false;
  });

  if (card.dataset.state === "running") { button.disabled = true; poll(); }
}

// --- Models: say whether the typed model supports thinking ---------------------------------------
function setupThinkingHints() {
  const data = document.getElementById("thinking-map");
  if (!data) return;
  const thinks = JSON.parse(data.textContent);
  for (const name of ["working_model", "thinking_model"]) {
    const input = document.getElementById(name);
    const hint = document.querySelector(`[data-hint-for="${name}"]`);
    if (!input || !hint) continue;
    input.addEventListener("input", () => {
      const model = input.value.trim();
      if (!model) hint.textContent = "";
      else if (thinks[model] === true) hint.textContent = "Supports thinking.";
      else if (thinks[model] === false) hint.textContent = "No thinking support: the thinking level is ignored for this model.";
      else hint.textContent = "Thinking support unknown (not in the catalog); it is checked when the model is called.";
    });
  }
}

setupReindex();
setupThinkingHints();
