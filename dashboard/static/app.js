// agentctl dashboard: the little the pages need beyond HTML. Every write goes to the JSON API;
// a 4xx answer's message is shown next to the field it names. No framework, no build step.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

class ApiFailure extends Error {
  constructor(status, error) {
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || null;
    this.field = error.field || null;
  }
}

// An answer refused because the run had moved on to another pause: the box it was given in is
// replaced by the next pause's within a second, and its error with it; the next box shows it.
let refusedAnswer = "";

async function api(method, url, body) {
  const headers = { "X-CSRF-Token": csrfToken(), Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    window.location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new ApiFailure(401, { message: "signed out" });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiFailure(response.status, data.error || {});
  return data;
}

// ------------------------------------------------------------------ forms → API

function setPath(target, path, value) {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] = node[part] || {};
  node[parts[parts.length - 1]] = value;
}

function changedField(el) {
  return el.type === "checkbox" ? el.checked !== el.defaultChecked : el.value !== el.defaultValue;
}

function formBody(form, submitter) {
  const body = JSON.parse(form.dataset.body || "{}");
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === "submit" || el.type === "file" || el.type === "button") continue;
    // Sent only when the person changed it: an untouched field keeps what is saved (a param's
    // type, a review a run made after this page loaded).
    if (el.hasAttribute("data-if-changed") && !changedField(el)) continue;
    if (el.type === "checkbox") {
      setPath(body, el.name, el.checked);
    } else if (el.type === "radio") {
      if (el.checked) setPath(body, el.name, el.value);
    } else if (el.value === "" && el.hasAttribute("data-optional")) {
      continue;
    } else {
      setPath(body, el.name, el.value);
    }
  }
  if (submitter && submitter.name) {
    // "Run" / "From here" buttons (form="run-form") and decision buttons carry their own field.
    const value = submitter.value;
    if (submitter.name === "chunks") body.chunks = [Number(value)];
    else if (submitter.name === "from_chunk") body.from_chunk = Number(value);
    else setPath(body, submitter.name, value);
  }
  return body;
}

function clearErrors(form) {
  form.querySelectorAll("[data-error-for], .form-error").forEach((el) => (el.textContent = ""));
  if (form.nextElementSibling?.classList.contains("form-error")) form.nextElementSibling.textContent = "";
  form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
}

function errorSlotAfter(element) {
  // A form with no slot of its own (a lone Delete or Duplicate button) keeps its button: the
  // message goes just after it, where the next try clears it.
  let slot = element.nextElementSibling;
  if (!slot || !slot.classList.contains("form-error")) {
    slot = el("div", { className: "form-error", role: "alert" });
    element.after(slot);
  }
  return slot;
}

function showError(form, failure) {
  const field = failure.field ? failure.field.split(".")[0] : null;
  const slot = field && form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
  (slot || form.querySelector(".form-error") || errorSlotAfter(form)).textContent = failure.message;
  const input = field && form.querySelector(`[name="${CSS.escape(field)}"], [name^="${CSS.escape(field)}."]`);
  if (input) {
    input.classList.add("invalid");
    input.focus();
  }
}

function followUp(form, result) {
  const then = form.dataset.then || "reload";
  if (then === "agent") window.location.href = `/agents/${result.id}`;
  else if (then === "run") window.location.href = result.url;
  else if (then === "list") window.location.href = "/";
  else if (then === "stay") form.closest(".approval")?.classList.add("answered");
  else window.location.reload();
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
  event.preventDefault();
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  const submitter = event.submitter;
  clearErrors(form);
  const buttons = [...form.querySelectorAll("button"), ...(submitter ? [submitter] : [])];
  buttons.forEach((b) => (b.disabled = true));
  try {
    const result = await api(form.dataset.method || "POST", form.dataset.api, formBody(form, submitter));
    followUp(form, result);
  } catch (failure) {
    if (failure instanceof ApiFailure) showError(form, failure);
    else showError(form, { message: String(failure), field: null });
    if (failure instanceof ApiFailure && failure.code === "answered") refusedAnswer = failure.message;
    buttons.forEach((b) => (b.disabled = false));
  }
});

// ------------------------------------------------------------------ small behaviours

document.addEventListener("click", async (event) => {
  const toggle = event.target.closest("[data-toggle]");
  if (toggle) {
    document.getElementById(toggle.dataset.toggle)?.classList.toggle("hidden");
    return;
  }
  const move = event.target.closest("[data-move]");
  if (move) await moveChunk(move);
  const download = event.target.closest("a[data-download]");
  if (download) {
    event.preventDefault();
    await downloadFile(download);
  }
});

async function downloadFile(link) {
  // A plain download link showed nothing when the API refused (a secret pasted into the agent):
  // the browser just cancelled the download. Fetched here, a refusal is shown beside the link.
  const slot = errorSlotAfter(link);
  slot.textContent = "";
  const response = await fetch(link.href, { credentials: "same-origin" });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    slot.textContent = (data.error && data.error.message) || `download failed (${response.status})`;
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const save = el("a", { href: url, download: link.dataset.download });
  document.body.append(save);
  save.click();
  save.remove();
  URL.revokeObjectURL(url);
}

async function moveChunk(button) {
  const table = button.closest("table.chunks");
  const ids = [...table.querySelectorAll("tr[data-chunk-id]")].map((row) => row.dataset.chunkId);
  const id = button.closest("tr").dataset.chunkId;
  const at = ids.indexOf(id);
  const to = button.dataset.move === "up" ? at - 1 : at + 1;
  if (to < 0 || to >= ids.length) return;
  [ids[at], ids[to]] = [ids[to], ids[at]];
  try {
    await api("PUT", `/api/agents/${table.dataset.agentId}/chunks/order`, {
      version: Number(table.dataset.version),
      chunk_ids: ids,
    });
    window.location.reload();
  } catch (failure) {
    const slot = document.querySelector('[data-role="reorder-error"]');
    if (slot) slot.textContent = failure.message;
  }
}

document.addEventListener("change", async (event) => {
  const input = event.target;
  if (input.type !== "file" || !input.dataset.fills || !input.files.length) return;
  document.getElementById(input.dataset.fills).value = await input.files[0].text();
});

// ------------------------------------------------------------------ a run, live

const POLL_MS = 1000;

function setPill(holder, status) {
  const pill = holder.querySelector('[data-role="status"]');
  if (!pill || pill.textContent === status) return;
  pill.textContent = status;
  pill.className = `pill st-${status.toLowerCase().replaceAll(" ", "-")}`;
}

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

function approvalBox(run) {
  const a = run.awaiting;
  const title = (a.kind === "approval" ? "Waiting for approval: " : "Paused after: ") + a.chunk;
  const form = el("form");
  Object.assign(form.dataset, { api: `/api/runs/${run.flow_run_id}/decision`, method: "POST", then: "stay" });
  const buttons = el("div", { className: "buttons" }, [
    // The pause this box shows: answered late (someone else moved the run on), it is refused
    // rather than applied to the next chunk.
    el("input", { type: "hidden", name: "pause_key", value: a.key }),
    el("input", { name: "note", placeholder: "Note (optional)", maxLength: 2000 }),
  ]);
  for (const decision of a.decisions) {
    const label = decision.replaceAll("_", " ");
    const kind = ["approve", "continue"].includes(decision) ? "approve" : decision === "abort" ? "danger" : "";
    buttons.append(el("button", { type: "submit", name: "decision", value: decision, className: kind,
      textContent: label[0].toUpperCase() + label.slice(1) }));
  }
  form.append(buttons, el("div", { className: "form-error" }));
  const box = el("section", { className: "approval" }, [
    el("h2", { textContent: title }),
    el("ol", {}, a.lines.map((line) => {
      const [kind, ...rest] = line.replace(/^\d+\.\s*/, "").split(" ");
      return el("li", {}, [el("span", { className: "action-type", textContent: kind }), ` ${rest.join(" ")}`]);
    })),
    form,
  ]);
  box.dataset.testid = "approval";
  box.dataset.key = a.key;
  return box;
}

function renderLogs(pre, lines) {
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  for (const line of lines) {
    const time = new Date(line.timestamp).toLocaleTimeString();
    pre.append(el("span", { className: "ts", textContent: `${time} ` }),
      el("span", { className: `lv-${line.level}`, textContent: `${line.level.padEnd(7)} ` }),
      line.task ? el("span", { className: "task", textContent: `[${line.task}] ` }) : "",
      el("span", { textContent: `${line.message}\n` }));
  }
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

function updateRows(root, chunks) {
  for (const chunk of chunks) {
    const row = root.querySelector(`tr[data-chunk-id="${chunk.id}"]`);
    if (!row || chunk.in_run === false) continue;  // not this run's chunk: its status is not this run's
    setPill(row, chunk.status);
    row.querySelector('[data-role="attempts"]').textContent = chunk.attempts || "";
    row.querySelector('[data-role="error"]').textContent = chunk.error_summary || "";
    updateFailurePanel(row, chunk);
  }
}

function updateFailurePanel(row, chunk) {
  // The panel the page loaded with belongs to the run before; one for a failure of this run is
  // built from what the poll returns (the page's own, on reload, has every detail).
  const panel = row.parentElement.querySelector(`tr.failure[data-failure-for="${chunk.id}"]`);
  const failed = chunk.status === "Failed" && chunk.error_summary;
  const shown = panel && panel.dataset.summary === (chunk.error_summary || "");
  if (!failed) {
    panel?.remove();
    return;
  }
  if (shown) return;
  const links = el("div", { className: "links" }, [
    chunk.screenshot ? el("a", { href: chunk.screenshot.url, target: "_blank", textContent: "Screenshot" }) : "",
    chunk.task_run ? el("a", { href: chunk.task_run.url, target: "_blank", textContent: "Prefect task run" }) : "",
  ]);
  const fresh = el("tr", { className: "failure" }, [
    el("td"),
    el("td", { colSpan: row.children.length - 1 }, [
      el("div", { className: "failure-message", textContent: chunk.error_summary }),
      links,
    ]),
  ]);
  fresh.dataset.failureFor = chunk.id;
  fresh.dataset.summary = chunk.error_summary;
  if (panel) panel.replaceWith(fresh);
  else row.after(fresh);
}

async function followRun(root) {
  const runId = root.dataset.liveRun;
  const slot = root.querySelector('[data-role="approval-slot"]');
  const logs = root.querySelector('[data-role="logs"]');
  let after = 0;
  let finishedAt = null;
  let shownKey = slot.querySelector("[data-key]")?.dataset.key || "";
  while (true) {
    try {
      const live = await api("GET", `/api/runs/${runId}`);
      setPill(document.querySelector('[data-role="run-status"]'), live.run.status);
      root.querySelector('[data-role="run-error"]').textContent = live.run.error || "";
      updateRows(root, live.chunks);
      const a = live.run.awaiting;
      const key = a ? a.key : "";
      if (key !== shownKey) {
        slot.replaceChildren(...(a ? [approvalBox(live.run)] : []));
        shownKey = key;
        const notice = slot.querySelector(".form-error");
        if (notice && refusedAnswer) notice.textContent = refusedAnswer;
        refusedAnswer = "";
      }
      const page = await api("GET", `/api/runs/${runId}/logs?after=${after}`).catch(() => null);
      if (page) {
        renderLogs(logs, page.lines);
        after = page.next;
      }
      if (live.run.finished) {
        finishedAt = finishedAt || Date.now();
        // Prefect ships log lines in batches: keep reading a few seconds after the end.
        if (Date.now() - finishedAt > 6000) {
          root.querySelector('[data-role="log-state"]').textContent = "run finished";
          return;
        }
      }
    } catch (failure) {
      root.querySelector('[data-role="log-state"]').textContent = `not updating: ${failure.message}`;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// The pending approvals page: reload when the set of questions changes (answered here or elsewhere).
async function followPending(root) {
  const shown = () => [...root.querySelectorAll(".approval")].map((box) => `${box.dataset.runId}/${box.dataset.key}`);
  const before = shown().sort().join(" ");
  while (true) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      const runs = await api("GET", "/api/approvals");
      const now = runs.map((run) => `${run.flow_run_id}/${run.awaiting.key}`).sort().join(" ");
      if (now !== before) {
        window.location.reload();
        return;
      }
    } catch (failure) {
      // keep the page as it is; the next poll tries again
    }
  }
}

window.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live-run]").forEach((root) => followRun(root));
  document.querySelectorAll("[data-pending-page]").forEach((root) => followPending(root));
});
