// The evolink-mock dashboard: one stream (GET /_mock/ui/events) feeds every view; forms call the admin API.
// Data comes only from those calls, with X-Mock-Admin-Token when one was entered. The admin API never shows a
// key in full (only its first characters, masked here again) and names each by its key_id for filters and forms.
"use strict";

const TOKEN_STORE = "evolink-mock-admin-token";
const KEY_SHOWN = 7; // characters of a key shown before the mask ("sk-" and four more)
const RETRY_MS = 1000;

const state = {
  token: sessionStorage.getItem(TOKEN_STORE) || "",
  meta: null, clock: null, data: null, models: null,
  view: "tasks", taskId: null, account: null, accountLabel: "",
  filters: {key: "", model: "", status: ""},
  keys: [], // key ids, by the index the page's selects use
  stream: null, streamQuery: null,
};

const $ = (id) => document.getElementById(id);

// -- helpers ----------------------------------------------------------------------------------------
function mask(key) {
  return key ? key.slice(0, KEY_SHOWN) + "…" : "";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function time(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${(s / 3600).toFixed(1)} h`;
}

function say(message) {
  $("status").textContent = message;
}

function fail(message) {
  $("error").textContent = message;
}

// Task records: read the headline fields at the top when the admin view has them, else in the public body.
const taskId = (t) => t.id ?? t.task?.id;
const taskModel = (t) => t.model ?? t.task?.model;
const taskStatus = (t) => t.status ?? t.task?.status;
const taskProgress = (t) => t.progress ?? t.task?.progress ?? 0;

function keyIndex(key) {
  let i = state.keys.indexOf(key);
  if (i < 0) { state.keys.push(key); i = state.keys.length - 1; }
  return String(i);
}

// Rows keyed by identity; a cell is replaced only when it changed, so focus and playback stay put.
function syncRows(tbody, items, keyOf, cellsOf) {
  const existing = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
  items.forEach((item, i) => {
    const key = keyOf(item);
    let row = existing.get(key);
    existing.delete(key);
    if (!row) { row = el("tr"); row.dataset.key = key; }
    cellsOf(item).forEach((content, j) => {
      const cell = j === 0 ? el("th", {scope: "row"}, content) : el("td", {}, content);
      const current = row.cells[j];
      if (!current) row.append(cell);
      else if (!current.isEqualNode(cell)) current.replaceWith(cell);
    });
    if (tbody.rows[i] !== row) tbody.insertBefore(row, tbody.rows[i] || null);
  });
  for (const row of existing.values()) row.remove();
}

function fillList(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, String(value ?? "–"))]));
}

function fillSelect(select, options, keep) {
  const chosen = select.value;
  select.replaceChildren(...[...select.options].slice(0, keep),
    ...options.map(([value, label]) => el("option", {value}, label)));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

// -- the admin API ----------------------------------------------------------------------------------
class AdminError extends Error {}
class TokenRequired extends AdminError {}

function headers(extra = {}) {
  return state.token ? {...extra, "X-Mock-Admin-Token": state.token} : extra;
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method, headers: headers(body === undefined ? {} : {"Content-Type": "application/json"}),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401 && answer.error?.code === "admin_token_required") {
    askToken("The admin token was refused: enter it again.");
    throw new TokenRequired("admin token required");
  }
  if (!response.ok) throw new AdminError(answer.error?.message || `${method} ${path}: ${response.status}`);
  return answer;
}

async function act(what, method, path, body) {
  fail("");
  try {
    await call(method, path, body);
    say(what);
  } catch (error) {
    if (!(error instanceof TokenRequired)) fail(error.message);
  }
}

// -- the stream: server-sent events read with fetch (so the admin token goes in a header) -----------
function streamQuery() {
  const query = new URLSearchParams();
  const {key, model, status} = state.filters;
  if (key !== "") query.set("key", state.keys[Number(key)]);
  if (model) query.set("model", model);
  if (status) query.set("status", status);
  if (state.view === "task" && state.taskId) query.set("task_id", state.taskId);
  if (state.view === "accounts" && state.account) query.set("account", state.account);
  return query.toString();
}

function connect() {
  const query = streamQuery();
  if (state.stream && state.streamQuery === query) return;
  disconnect();
  const controller = new AbortController();
  state.stream = controller;
  state.streamQuery = query;
  listen(query, controller).catch(() => {}).finally(() => {
    if (state.stream === controller && !controller.signal.aborted) {
      state.stream = null;
      say("Connection lost; reconnecting…");
      setTimeout(connect, RETRY_MS);
    }
  });
}

function disconnect() {
  if (state.stream) state.stream.abort();
  state.stream = null;
  state.streamQuery = null;
}

async function listen(query, controller) {
  const response = await fetch(`/_mock/ui/events?${query}`, {headers: headers(), signal: controller.signal});
  if (response.status === 401) {
    disconnect();
    askToken(state.token ? "The admin token was refused: enter it again." : "");
    return;
  }
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    fail(answer.error?.message || `the stream answered ${response.status}`);
    return;
  }
  say("Live");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(5).replace(/^ /, "");
      }
      if (data) receive(name, JSON.parse(data));
    }
  }
}

function receive(name, content) {
  if (name === "meta") {
    state.meta = content;
    fillSelect($("filter-model"), content.models.map((m) => [m, m]), 1);
    fillSelect($("filter-status"), content.statuses.map((s) => [s, s]), 1);
    fillSelect($("fault-kind"), content.fault_kinds.map((k) => [k, k]), 0);
    fillSelect($("fault-route"), content.routes.map((r) => [r, r]), 1);
    fillSelect($("fault-model"), content.models.map((m) => [m, m]), 1);
    fillSelect($("fault-error"), content.error_codes.map((c) => [c, c]), 1);
  } else if (name === "clock") {
    state.clock = content;
    renderClock();
  } else if (name === "state") {
    state.data = content;
    render();
  }
}

// -- the admin token --------------------------------------------------------------------------------
function askToken(message) {
  state.token = "";
  sessionStorage.removeItem(TOKEN_STORE);
  disconnect();
  state.data = null;
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  $("clock").hidden = true;
  $("token-form").hidden = false;
  fail(message);
  say("");
  $("token").focus();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value;
  sessionStorage.setItem(TOKEN_STORE, state.token);
  $("token").value = "";
  $("token-form").hidden = true;
  fail("");
  route();
});

// -- views ------------------------------------------------------------------------------------------
function route() {
  const [view = "tasks", id = null] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  state.view = ["tasks", "accounts", "faults", "models"].includes(view) ? (view === "tasks" && id ? "task" : view)
    : "tasks";
  state.taskId = state.view === "task" ? id : null;
  if (!$("token-form").hidden) return;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${state.view}`;
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${view}` && state.view !== "task");
  }
  connect();
  if (state.view === "models" && !state.models) loadModels();
  render();
}

function render() {
  const data = state.data;
  if (!data) return;
  renderKeys(data.accounts.shown);
  if (state.view === "tasks") renderTasks(data.tasks);
  else if (state.view === "task") renderTask(data.task);
  else if (state.view === "accounts") renderAccounts(data.accounts, data.ledger);
  else if (state.view === "faults") renderFaults(data.faults);
}

function renderClock() {
  const clock = state.clock;
  $("clock").hidden = false;
  $("clock-now").textContent = time(clock.now);
  $("clock-now").setAttribute("datetime", new Date(clock.now * 1000).toISOString());
  $("clock-speed").textContent = clock.speed === 0 ? "(manual clock)" : `(${clock.speed}× wall time)`;
}

function renderKeys(accounts) {
  const options = accounts.map((a) => [keyIndex(a.key_id), mask(a.key)]);
  fillSelect($("filter-key"), options, 1);
  fillSelect($("fault-key"), options, 1);
}

function progressBar(value) {
  return el("span", {class: "progress"}, el("progress", {max: "100", value: String(value), "aria-label": "Progress"}),
    ` ${value}%`);
}

function credits(t) {
  return `${t.billing.price} (${t.billing.state})`;
}

function renderTasks(tasks) {
  const shown = tasks.shown;
  $("tasks-summary").textContent = tasks.filtered
    ? `${shown.length} matching task(s) among the newest of ${tasks.total}.`
    : `${shown.length} newest of ${tasks.total} task(s).`;
  syncRows($("tasks-rows"), shown, taskId, (t) => [
    el("a", {href: `#/tasks/${encodeURIComponent(taskId(t))}`}, taskId(t)),
    mask(t.key), taskModel(t), el("span", {class: `status ${taskStatus(t)}`}, taskStatus(t)),
    progressBar(taskProgress(t)), time(t.timeline.created), duration(t.timeline.estimated_time), credits(t),
  ]);
}

function renderTask(t) {
  $("task-missing").hidden = !(t && t.missing);
  $("task-body").hidden = !t || Boolean(t.missing);
  if (!t || t.missing) return;
  const id = taskId(t), status = taskStatus(t), running = status === "pending" || status === "processing";
  $("task-heading").textContent = `Task ${id}`;
  $("task-cancel").hidden = !running;
  $("task-redeliver").hidden = running || !t.params.callback_url;
  renderTimeline(t);
  fillList($("task-params"), [["Model", taskModel(t)], ["Key", mask(t.key)], ["Seconds", t.params.seconds],
    ["Aspect ratio", t.params.aspect_ratio], ["Quality", t.params.quality], ["Sound", t.params.sound ? "on" : "off"],
    ["Callback URL", t.params.callback_url]]);
  fillList($("task-scenario"), [["Scenario", t.outcome.scenario || "none"], ["Fails with", t.outcome.fail],
    ["Stuck", t.outcome.stuck ? "yes" : "no"], ["Status", `${status} (${taskProgress(t)}%)`]]);
  fillList($("task-billing"), [["Price (credits)", t.billing.price], ["Billed seconds", t.billing.seconds],
    ["Billing", t.billing.state]]);
  syncRows($("task-ledger"), t.ledger || [], (e) => `${e.kind}-${e.at}`,
    (e) => [e.kind, time(e.at), String(e.amount), String(e.balance)]);
  syncRows($("task-callbacks"), t.callbacks || [], (a) => String(a.attempt), (a) => [
    `${a.attempt}${a.manual ? " (manual)" : ""}`, a.state, time(a.at),
    a.status_code !== undefined ? String(a.status_code) : a.error || "–",
    a.duration_ms === null || a.duration_ms === undefined ? "–" : `${Math.round(a.duration_ms)} ms`,
  ]);
  $("task-json").textContent = JSON.stringify(t.task, null, 2);
  const result = status === "completed" ? (t.task.results || [])[0] : null;
  const video = $("task-video");
  video.hidden = !result;
  $("video-none").hidden = Boolean(result);
  if (result && video.getAttribute("src") !== result) video.setAttribute("src", result);
  if (!result && video.hasAttribute("src")) { video.removeAttribute("src"); video.load(); }
}

function renderTimeline(t) {
  const line = t.timeline, now = state.clock ? state.clock.now : line.created;
  const start = line.created, ends = line.cancelled_at ?? line.ends;
  const span = Math.max((ends ?? now) - start, now - start, line.processing_from - start, 1);
  const at = (when) => `${(100 * (Math.min(when, start + span) - start)) / span}%`;
  const width = (from, to) => `${(100 * (Math.max(to, from) - from)) / span}%`;
  const processingEnd = ends ?? Math.max(now, line.processing_from);
  const parts = [
    el("span", {class: "queued", style: `left:0;width:${width(start, line.processing_from)}`}),
    el("span", {class: "processing", style: `left:${at(line.processing_from)};width:${width(line.processing_from, processingEnd)}`}),
    ends === null || ends === undefined ? null : el("span", {class: `end ${taskStatus(t)}`, style: `left:${at(ends)}`}),
    el("span", {class: "now", style: `left:${at(now)}`}),
  ];
  const timeline = $("timeline");
  timeline.replaceChildren(...parts.filter(Boolean));
  timeline.setAttribute("aria-label", `Queued ${duration(line.processing_from - start)}, then processing until ` +
    (ends === null || ends === undefined ? "never (stuck)" : `${duration(ends - start)} after creation`) +
    `; now is ${duration(now - start)} after creation.`);
  $("timeline-legend").replaceChildren(
    el("li", {class: "queued"}, `Queued from ${time(start)}`),
    el("li", {class: "processing"}, `Processing from ${time(line.processing_from)}`),
    el("li", {class: "end"}, ends === null || ends === undefined ? "No end (stuck)" : `Ends ${time(ends)} (${taskStatus(t)})`),
    el("li", {class: "now"}, `Now ${time(now)}`),
  );
}

function renderAccounts(accounts, ledger) {
  $("accounts-summary").textContent = `${accounts.shown.length} of ${accounts.total} account(s), by key.`;
  syncRows($("accounts-rows"), accounts.shown, (a) => keyIndex(a.key_id), (a) => [
    el("button", {type: "button", class: "link", "data-key": keyIndex(a.key_id),
      "aria-pressed": String(a.key_id === state.account), "aria-label": `Ledger of ${mask(a.key)}`}, mask(a.key)),
    String(a.granted), String(a.balance), String(a.reserved), String(a.charged), String(a.running ?? 0),
    a.revoked ? "yes" : "no",
  ]);
  $("ledger").hidden = !ledger;
  if (!ledger) return;
  $("ledger-heading").textContent = `Ledger of ${state.accountLabel}`;
  syncRows($("ledger-rows"), ledger, (e) => `${e.kind}-${e.at}-${e.task_id}`, (e) => [
    e.kind, time(e.at), e.task_id ? el("a", {href: `#/tasks/${encodeURIComponent(e.task_id)}`}, e.task_id) : "–",
    String(e.amount), String(e.balance),
  ]);
}

function renderFaults(rules) {
  syncRows($("faults-rows"), rules, (r) => r.id, (r) => [
    r.id, r.kind,
    [r.route && `route ${r.route}`, r.model && `model ${r.model}`, r.key && `key ${mask(r.key)}`]
      .filter(Boolean).join(", ") || "everything",
    r.latency_ms !== undefined ? `${r.latency_ms} ms later` : r.retry_after !== undefined ? `Retry-After ${r.retry_after} s`
      : r.error_code !== undefined ? `fail=${r.error_code}` : r.scenario !== undefined ? r.scenario : "–",
    r.times === null ? "always" : String(r.times), String(r.probability),
    `${r.fired}${r.spent ? " (spent)" : ""}`,
    el("button", {type: "button", "data-fault": r.id, "aria-label": `Delete ${r.id}`}, "Delete"),
  ]);
}

async function loadModels() {
  try {
    state.models = await call("GET", "/_mock/models");
    renderModels();
  } catch (error) {
    fail(error.message);
  }
}

// A price row: the tier (``quality`` or the field the model prices by), sound, duration, credits per unit.
const PRICE_KEYS = new Set(["credits", "unit", "assumed", "override", "sound", "duration"]);

function priceLabel(p) {
  const parts = Object.entries(p).filter(([k]) => !PRICE_KEYS.has(k))
    .map(([k, v]) => (k === "quality" ? String(v) : `${k} ${v}`));
  if (p.duration != null) parts.push(`${p.duration} s`);
  return `${parts.length ? parts.join(" ") : "any"}${p.sound ? " with sound" : ""}: `
    + `${p.credits}/${p.unit === "call" ? "call" : "s"}${p.override ? " (override)" : ""}`;
}

function renderModels() {
  const wanted = $("models-filter").value.trim().toLowerCase();
  const models = (state.models || []).filter((m) => !wanted || `${m.id} ${m.family}`.toLowerCase().includes(wanted));
  syncRows($("models-rows"), models, (m) => m.id, (m) => [
    m.alias_of ? `${m.id} (alias of ${m.alias_of})` : m.id, m.family, m.modes.join(", "),
    el("ul", {class: "prices"}, ...m.prices.map((p) => el("li", {class: p.assumed ? "assumed" : null},
      priceLabel(p), p.assumed ? el("span", {class: "sr-only"}, " (assumed)") : null))),
  ]);
}

// -- controls ---------------------------------------------------------------------------------------
for (const button of document.querySelectorAll("[data-seconds]")) {
  button.addEventListener("click", () => act(`Advanced the clock ${button.textContent}`, "POST",
    "/_mock/clock/advance", {seconds: Number(button.dataset.seconds)}));
}

$("advance-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const seconds = Number($("advance-seconds").value);
  act(`Advanced the clock ${seconds} s`, "POST", "/_mock/clock/advance", {seconds});
});

$("filters").addEventListener("change", () => {
  state.filters = {key: $("filter-key").value, model: $("filter-model").value, status: $("filter-status").value};
  $("tasks-rows").replaceChildren();
  connect();
});

$("task-cancel").addEventListener("click", () =>
  act("Cancelled the task", "POST", `/_mock/tasks/${encodeURIComponent(state.taskId)}/cancel`));
$("task-redeliver").addEventListener("click", () =>
  act("Callback scheduled", "POST", `/_mock/callbacks/${encodeURIComponent(state.taskId)}/redeliver`));

$("accounts-rows").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-key]");
  if (!button) return;
  state.account = state.keys[Number(button.dataset.key)];
  state.accountLabel = button.textContent;
  connect();
});

$("faults-rows").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-fault]");
  if (button) act(`Deleted ${button.dataset.fault}`, "DELETE", `/_mock/faults/${encodeURIComponent(button.dataset.fault)}`);
});

$("fault-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {};
  for (const [name, value] of form.entries()) {
    if (value === "") continue;
    if (name === "key") body.key = state.keys[Number(value)];
    else body[name] = ["times", "probability", "latency_ms", "retry_after"].includes(name) ? Number(value) : value;
  }
  $("fault-error-message").textContent = "";
  try {
    const rule = await call("POST", "/_mock/faults", body);
    say(`Added ${rule.id}`);
    event.target.reset();
  } catch (error) {
    $("fault-error-message").textContent = error.message;
  }
});

$("models-filter").addEventListener("input", renderModels);
window.addEventListener("hashchange", route);
if (!location.hash) history.replaceState(null, "", "#/tasks");
route();
