// The llmos dashboard: plain JavaScript, no build step, nothing fetched from elsewhere.
// Tasks are polled from /tasks; the selected task's events stream from
// /tasks/{id}/events (server-sent events, the same JSON as `llmos run --json`).
"use strict";

// ------------------------------------------------------------------ plumbing

const TOKEN = (() => {
  // Opened as /?token=…: keep the token for this tab and take it out of the address bar.
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem("llmos-token", given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem("llmos-token");
})();

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function usd(value) {
  // Like llmos's format_usd: cents, or four decimals below a cent.
  if (value === null || value === undefined) return "–";
  const places = value !== 0 && Math.abs(value) < 0.01 ? 4 : 2;
  return `$${value.toFixed(places)}`;
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  return value < 10 ? `${value.toFixed(2)} s` : `${value.toFixed(1)} s`;
}

function shortInput(input) {
  for (const key of ["command", "file_path", "path", "pattern", "url"]) {
    if (typeof input[key] === "string") return input[key];
  }
  const text = JSON.stringify(input);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

// ------------------------------------------------------------------ tasks

const state = { selected: null, source: null, tasks: [], traceId: null };

function renderTasks(tasks) {
  state.tasks = tasks;
  $("task-count").textContent = tasks.length ? `(${tasks.length})` : "";
  $("tasks-empty").hidden = tasks.length > 0;
  $("task-list").replaceChildren(
    ...tasks.map((task) => {
      const meta = [task.mode || task.requested_mode || "auto", task.status];
      if (task.cost_usd) meta.push(usd(task.cost_usd));
      if (task.saved_usd) meta.push(`saved ${usd(task.saved_usd)}`);
      if (task.duration_s !== null) meta.push(seconds(task.duration_s));
      if (task.project) meta.push(`project ${task.project}`);
      return el(
        "li",
        {
          class: `task${task.task_id === state.selected ? " selected" : ""}`,
          "data-task": task.task_id,
          "data-status": task.status,
          "data-outcome": task.outcome || "",
          onclick: () => follow(task.task_id),
        },
        el("span", { class: `dot ${task.status}`, title: task.status }),
        el("span", { class: "goal", title: task.goal }, task.goal),
        el("span", { class: "meta" }, meta.join(" · "),
          task.outcome ? el("span", {
            class: `badge ${task.outcome}`,
            title: task.failure_kind ? `${task.failure_kind}: ${task.error || ""}` : task.outcome,
          }, task.failure_kind ? `${task.outcome} · ${task.failure_kind}` : task.outcome) : ""),
      );
    }),
  );
  const current = tasks.find((task) => task.task_id === state.selected);
  $("cancel-button").hidden = !current || !["queued", "running"].includes(current.status);
}

async function refreshTasks() {
  try {
    renderTasks(await api("/tasks"));
  } catch (error) {
    $("server-info").textContent = `cannot reach the server: ${error.message}`;
  }
}

// ------------------------------------------------------------------ the plan

// An orchestration's plan, drawn from its typed events: `plan-made` lays the subtasks
// out in waves (a subtask stands in the column after those it depends on), and each
// `subtask-*` event moves one card to running, done, failed or skipped.
const plan = { nodes: new Map() };

function clearPlan() {
  plan.nodes.clear();
  $("plan").hidden = true;
  $("plan-waves").replaceChildren();
  $("plan-summary").textContent = "";
}

function drawPlan(event) {
  const depth = new Map();
  for (const s of event.subtasks) {
    depth.set(s.id, 1 + Math.max(-1, ...s.depends_on.map((d) => depth.get(d) ?? 0)));
  }
  const waves = [];
  for (const s of event.subtasks) (waves[depth.get(s.id)] ||= []).push(s);
  plan.nodes.clear();
  $("plan-waves").replaceChildren(...waves.map((wave, index) =>
    el("ol", { class: "wave", "data-wave": index }, ...wave.map((s) => {
      const node = el("li", { class: "subtask", "data-subtask": s.id, "data-state": s.state },
        el("div", { class: "head" }, el("b", {}, s.id), el("span", { class: "agent" }, s.agent),
          el("span", { class: "state" }, s.state)),
        el("div", { class: "desc", title: s.description }, s.description),
        s.depends_on.length ? el("div", { class: "after" }, `after ${s.depends_on.join(", ")}`) : null,
        el("div", { class: "detail" }));
      plan.nodes.set(s.id, node);
      return node;
    }))));
  const from = event.replayed_from ? ` · replayed from ${event.replayed_from.slice(0, 12)}` : "";
  $("plan-summary").textContent = `(${event.subtasks.length} subtasks${from})`;
  $("plan").hidden = false;
}

function setSubtask(id, subtaskState, detail) {
  const node = plan.nodes.get(id);
  if (!node) return;
  node.dataset.state = subtaskState;
  node.querySelector(".state").textContent = subtaskState;
  node.querySelector(".detail").textContent = detail;
}

function followPlan(event) {
  switch (event.kind) {
    case "plan-made":
      drawPlan(event);
      break;
    case "subtask-started":
      setSubtask(event.subtask_id, "running",
        `as ${event.subtask_task_id}${event.attempt > 1 ? ` · attempt ${event.attempt}` : ""}`);
      break;
    case "subtask-finished":
      setSubtask(event.subtask_id, "done", `${event.mode || ""} · ${usd(event.cost_usd)}`);
      break;
    case "subtask-failed":
      setSubtask(event.subtask_id, event.retrying ? "running" : "failed",
        `${event.retrying ? `attempt ${event.attempt} failed, retrying: ` : `${event.failure}: `}${event.error}`);
      break;
    case "subtask-skipped":
      setSubtask(event.subtask_id, "skipped", event.reason);
      break;
  }
}

// What a typed event tells a person, as one line: [level, label, text] (see llmos.events).
function told(event) {
  switch (event.kind) {
    case "plan-made":
      return ["info", "plan", event.resumed
        ? `resuming: ${event.subtasks.filter((s) => s.state !== "done").length} subtask(s) left`
        : `${event.subtasks.length} subtasks${event.parallel > 1 ? ` · ${event.parallel} in parallel` : ""}`];
    case "subtask-started":
      return ["info", "subtask", `${event.subtask_id} started [${event.agent}] as ${event.subtask_task_id}`];
    case "subtask-finished":
      return ["info", "subtask", `${event.subtask_id} done [${event.mode}] · ${usd(event.cost_usd)}`];
    case "subtask-failed":
      return ["warning", "subtask", `${event.subtask_id} failed (attempt ${event.attempt}/${event.attempts}): ${event.error}${event.retrying ? "; retrying" : ""}`];
    case "subtask-skipped":
      return ["warning", "subtask", `${event.subtask_id} skipped: ${event.reason}`];
    case "replay-diverged":
      return ["warning", "replay", `diverged at step ${event.step} (${event.tool}): ${event.reason}; the Learner takes over`];
    case "healed":
      return ["info", "healed", `trace ${event.trace_id.slice(0, 12)} → ${event.new_trace_id.slice(0, 12)}`];
    case "context-compacted":
      return ["info", "context", `${event.folded_messages} earlier messages ${event.summarised ? "summarised" : "left out"}: ${event.tokens_before.toLocaleString("en")} → ${event.tokens_after.toLocaleString("en")} tokens`];
    case "watchdog-fired":
      return ["warning", "watchdog", `${event.what} (${event.setting}); task cancelled`];
    case "task-queued":
      return ["info", "queued", `position ${event.position} · ${event.running} running, ${event.waiting} waiting`];
    case "schedule-fired":
      return ["info", "schedule", `${event.schedule_id} (${event.cron}) is due: ${event.goal}`];
    case "schedule-skipped":
      return ["warning", "schedule", `${event.schedule_id} (${event.cron}) is due again while ${event.task_id} still runs; skipped`];
  }
  return null;
}

// ------------------------------------------------------------------ live events

const stream = { textNode: null, calls: new Map() };

function addEvent(node) {
  const list = $("events");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 30;
  list.append(node);
  if (atBottom) list.scrollTop = list.scrollHeight;
  return node;
}

function kindLabel(text) {
  return el("span", { class: "kind" }, text);
}

function renderEvent(event) {
  if (event.kind !== "text-delta") stream.textNode = null;
  followPlan(event);
  const line = told(event);
  if (line) {
    const [level, label, text] = line;
    addEvent(el("li", { class: `ev notice ${level}`, "data-kind": event.kind }, kindLabel(label), text));
    return;
  }
  switch (event.kind) {
    case "task-started":
      addEvent(el("li", { class: "ev start", "data-kind": event.kind },
        kindLabel("started"), `mode ${event.mode} · workspace ${event.workspace}`));
      break;
    case "mode-chosen": {
      const bits = [el("b", {}, event.mode), ` — ${event.reason}`];
      if (event.trace_id) bits.push(" · trace ", traceLink(event.trace_id));
      if (event.confidence !== null) bits.push(` · confidence ${event.confidence.toFixed(2)}`);
      if (event.model) bits.push(` · ${event.backend} / ${event.model}`);
      addEvent(el("li", { class: "ev mode", "data-kind": event.kind }, kindLabel("mode"), ...bits));
      break;
    }
    case "text-delta":
      if (!stream.textNode) {
        stream.textNode = addEvent(el("li", { class: "ev text", "data-kind": event.kind }));
      }
      stream.textNode.append(event.text);
      break;
    case "tool-call-started": {
      const node = el("li", { class: "ev tool pending", "data-kind": event.kind, "data-tool": event.tool },
        el("span", { class: "state" }, event.replay ? "replaying…" : "running…"),
        el("span", { class: "name" }, event.tool), shortInput(event.input));
      stream.calls.set(event.call_id, addEvent(node));
      break;
    }
    case "tool-call-finished": {
      const node = stream.calls.get(event.call_id);
      if (!node) break;
      node.classList.remove("pending");
      node.classList.add(event.is_error ? "bad" : "ok");
      node.dataset.kind = event.kind;
      const exit = event.exit_code === null ? "" : ` exit ${event.exit_code}`;
      const took = `${Math.round(event.duration_ms)} ms`;
      node.querySelector(".state").textContent =
        `${event.is_error ? "✗" : "✓"}${exit} · ${took}${event.replay ? " · replay" : ""}`;
      if (event.output) {
        node.append(el("details", {}, el("summary", {}, "output"), el("pre", {}, event.output)));
      }
      break;
    }
    case "usage-updated":
      $("stream-cost").textContent = `${usd(event.total_cost_usd)} · ${event.model}`;
      break;
    case "hook-decided":
      addEvent(el("li", { class: "ev hook", "data-kind": event.kind }, kindLabel(`hook ${event.hook}`),
        `${event.decision}${event.tool ? ` ${event.tool}` : ""}${event.reason ? `: ${event.reason}` : ""}`));
      break;
    case "notice":
      addEvent(el("li", { class: `ev notice ${event.level}`, "data-kind": event.kind },
        kindLabel(event.level), event.message));
      break;
    case "task-finished": {
      const verified = event.status !== "unverified";
      const head = verified ? "✓ done" : "◐ finished, unverified";
      const bits = [`${head} in ${seconds(event.duration_s)} · ${usd(event.cost_usd)}`];
      if (event.saved_usd) bits.push(` · saved ${usd(event.saved_usd)}`);
      if (event.trace_id) bits.push(" · trace ", traceLink(event.trace_id));
      if (!verified && event.note) bits.push(el("div", { class: "note" }, event.note));
      addEvent(el("li", { class: `ev ${verified ? "finished" : "unverified"}`, "data-kind": event.kind }, ...bits));
      break;
    }
    case "task-failed":
      addEvent(el("li", { class: "ev failed", "data-kind": event.kind },
        `✗ failed (${event.failure || event.error_type}): ${event.error}`));
      break;
    default:
      addEvent(el("li", { class: "ev", "data-kind": event.kind }, kindLabel(event.kind)));
  }
}

function traceLink(traceId) {
  return el("a", { onclick: () => openTrace(traceId), title: "open this trace" }, traceId.slice(0, 12));
}

function follow(taskId) {
  if (state.source) state.source.close();
  state.selected = taskId;
  stream.textNode = null;
  stream.calls.clear();
  clearPlan();
  $("events").replaceChildren();
  $("stream-cost").textContent = "";
  const task = state.tasks.find((t) => t.task_id === taskId);
  $("stream-goal").textContent = task ? task.goal : taskId;
  $("stream-goal").classList.remove("muted");
  renderTasks(state.tasks);
  const query = TOKEN ? `?token=${encodeURIComponent(TOKEN)}` : "";
  const source = new EventSource(`/tasks/${encodeURIComponent(taskId)}/events${query}`);
  state.source = source;
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    renderEvent(event);
    const own = event.task_id === taskId; // a subtask's end is not the orchestration's
    if (own && (event.kind === "task-finished" || event.kind === "task-failed")) {
      source.close(); // the run is over; otherwise EventSource would reconnect
      refreshTasks();
      refreshLibrary();
      refreshEconomy();
    }
  };
}

async function submitGoal(submit) {
  submit.preventDefault();
  const error = $("form-error");
  error.hidden = true;
  const body = { goal: $("goal").value };
  if ($("mode").value) body.mode = $("mode").value;
  if ($("project").value.trim()) body.project = $("project").value.trim();
  if ($("budget").value) body.budget = Number($("budget").value);
  $("run-button").disabled = true;
  try {
    const accepted = await api("/tasks", { method: "POST", body: JSON.stringify(body) });
    $("goal").value = "";
    await refreshTasks();
    follow(accepted.task_id);
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  } finally {
    $("run-button").disabled = false;
  }
}

async function cancelSelected() {
  if (!state.selected) return;
  try {
    await api(`/tasks/${encodeURIComponent(state.selected)}/cancel`, { method: "POST" });
  } catch (failure) {
    $("form-error").textContent = failure.message;
    $("form-error").hidden = false;
  }
  refreshTasks();
}

// ------------------------------------------------------------------ trace library

let traces = [];

async function refreshLibrary() {
  const query = $("trace-search").value.trim();
  try {
    traces = await api(`/traces${query ? `?q=${encodeURIComponent(query)}` : ""}`);
  } catch (error) {
    $("traces-empty").textContent = error.message;
    return;
  }
  $("trace-count").textContent = traces.length ? `(${traces.length})` : "";
  $("traces-empty").hidden = traces.length > 0;
  if (!traces.length) $("traces-empty").textContent = query ? `No trace matches “${query}”.` : "No traces yet: every run is saved here.";
  $("trace-rows").replaceChildren(
    ...traces.map((trace) =>
      el("tr", { "data-trace": trace.id, class: trace.id === state.traceId ? "selected" : null, onclick: () => openTrace(trace.id) },
        el("td", {}, trace.goal, el("span", { class: `badge ${trace.status}`, title: trace.failure_kind || trace.status }, trace.failure_kind ? `${trace.status} · ${trace.failure_kind}` : trace.status), el("div", { class: "id" }, trace.id, trace.model ? ` · ${trace.backend} ${trace.model}` : "")),
        el("td", { class: "num" }, trace.uses),
        el("td", { class: "num" }, el("span", { class: "good" }, `✓${trace.replay_successes}`), " ",
          el("span", { class: trace.replay_failures ? "bad" : "muted" }, `✗${trace.replay_failures}`)),
        el("td", { class: "num" }, usd(trace.saved_usd)),
      ),
    ),
  );
  renderSavings();
}

async function openTrace(traceId) {
  let trace;
  try {
    trace = await api(`/traces/${encodeURIComponent(traceId)}`);
  } catch (error) {
    $("trace-view").replaceChildren(el("p", { class: "error" }, error.message));
    return;
  }
  state.traceId = trace.id;
  for (const row of document.querySelectorAll("#trace-rows tr")) {
    row.classList.toggle("selected", row.dataset.trace === trace.id);
  }
  const meta = trace.meta;
  const usage = meta.usage || {};
  const facts = [
    ["id", trace.id],
    ["status", meta.status],
    ["learned", `${meta.created} · ${meta.mode} · ${meta.backend || "?"} / ${meta.model || "?"}`],
    ["cost", `${usd(meta.cost_usd)} · ${(usage.input_tokens ?? 0).toLocaleString("en")} in / ${(usage.output_tokens ?? 0).toLocaleString("en")} out tokens · ${seconds(meta.duration_s)}`],
    ["last used", meta.last_used || "never"],
  ];
  if (meta.parent) facts.push(["parent", meta.parent]);
  const body = el("div", { class: "markdown" });
  body.innerHTML = trace.html; // rendered on the server from Markdown with raw HTML disabled
  $("trace-view").classList.remove("empty");
  $("trace-view").replaceChildren(
    el("div", { class: "trace-title" }, meta.goal),
    el("div", { class: "history", "data-trace": trace.id },
      el("div", {}, el("b", {}, meta.use_count ?? 0), el("span", {}, "uses")),
      el("div", {}, el("b", { class: "good" }, meta.replay_successes ?? 0), el("span", {}, "replays ok")),
      el("div", {}, el("b", { class: "bad" }, meta.replay_failures ?? 0), el("span", {}, "replays failed")),
      el("div", {}, el("b", {}, usd(meta.saved_usd ?? 0)), el("span", {}, "saved")),
    ),
    el("dl", { class: "meta" }, ...facts.flatMap(([key, value]) => [el("dt", {}, key), el("dd", {}, value)])),
    body,
    el("details", {}, el("summary", {}, "Markdown file"), el("pre", {}, trace.markdown)),
  );
}

// ------------------------------------------------------------------ economy

function tile(label, value, kind = "") {
  return el("div", { class: `tile ${kind}` }, el("b", {}, value), el("span", {}, label));
}

async function refreshEconomy() {
  let report;
  try {
    report = await api("/budget");
  } catch (error) {
    $("tiles").replaceChildren(el("p", { class: "error" }, error.message));
    return;
  }
  const left = report.balance_usd === null ? "unlimited" : usd(report.balance_usd);
  $("pill-budget").textContent = `budget left ${left}`;
  $("tiles").replaceChildren(
    tile(report.total_usd === null ? "budget left (no budget set)" : `left of ${usd(report.total_usd)}`, left),
    tile(`spent · ${report.calls} model calls`, usd(report.spent_usd), "spend"),
    tile(`saved · ${report.replays} free replays`, usd(report.saved_usd), "save"),
    tile("reserved by running tasks", usd(report.reserved_usd)),
    tile("net cost (spent − saved)", usd(report.spent_usd - report.saved_usd)),
  );
  drawChart(report.by_day.slice(-14));
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function drawChart(days) {
  // Grouped bars per day: spent (red) and saved (green), with a labelled dollar axis.
  const chart = $("chart");
  const [width, height, left, right, top, bottom] = [640, 220, 56, 12, 14, 30];
  chart.replaceChildren();
  if (!days.length) {
    chart.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "Nothing spent or saved yet"));
    return;
  }
  const step = niceStep(Math.max(...days.flatMap((d) => [d.spent_usd, d.saved_usd])) / 4);
  const ceiling = step * 4;
  const places = Math.max(0, -Math.floor(Math.log10(step)));
  const plotHeight = height - top - bottom;
  const y = (value) => top + plotHeight - (value / ceiling) * plotHeight;
  for (let tick = 0; tick <= 4; tick += 1) {
    const value = step * tick;
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    chart.append(svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, `$${value.toFixed(places)}`));
  }
  const slot = (width - left - right) / days.length;
  const bar = Math.min(28, slot / 3);
  days.forEach((day, index) => {
    const middle = left + slot * index + slot / 2;
    const pairs = [[day.spent_usd, "bar-spend", middle - bar - 1], [day.saved_usd, "bar-save", middle + 1]];
    for (const [value, kind, x] of pairs) {
      const rect = svg("rect", { x, y: y(value), width: bar, height: Math.max(y(0) - y(value), value > 0 ? 1 : 0), rx: 2, class: kind });
      rect.append(svg("title", {}, `${day.day}: ${kind === "bar-spend" ? "spent" : "saved"} ${usd(value)}`));
      chart.append(rect);
    }
    chart.append(svg("text", { x: middle, y: height - 10, "text-anchor": "middle" }, day.day.slice(5)));
  });
}

function niceStep(raw) {
  // The smallest 1, 2 or 5 times a power of ten that is at least ``raw`` (an axis step).
  if (!(raw > 0)) return 0.0001;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw * 0.9999);
}

function renderSavings() {
  const ranked = traces.filter((t) => t.saved_usd > 0).sort((a, b) => b.saved_usd - a.saved_usd).slice(0, 8);
  if (!ranked.length) {
    $("savings").replaceChildren(el("li", { class: "empty" }, "No replays yet: a trace saves its learned cost each time it is followed."));
    return;
  }
  const most = ranked[0].saved_usd;
  $("savings").replaceChildren(
    ...ranked.map((trace) =>
      el("li", { onclick: () => openTrace(trace.id) },
        el("div", { class: "label" }, el("span", { title: trace.goal }, trace.goal), el("span", {}, `${usd(trace.saved_usd)} · ${trace.replay_successes}×`)),
        el("div", { class: "track" }, el("div", { class: "fill", style: `width:${(100 * trace.saved_usd) / most}%` })),
      ),
    ),
  );
}

// ------------------------------------------------------------------ start

async function refreshStatus() {
  try {
    const status = await api("/status");
    const provider = status.provider ? `${status.provider}${status.model ? ` / ${status.model}` : ""}` : "provider: auto";
    $("server-info").textContent = `${status.workspace} · ${provider} · v${status.version}`;
    $("pill-load").textContent = `${status.running} running · ${status.queued} queued · limit ${status.concurrency}`;
    const select = $("mode");
    if (select.options.length === 1) {
      select.append(...status.modes.filter((mode) => mode !== "auto").map((mode) => el("option", { value: mode }, mode)));
    }
  } catch (error) {
    $("server-info").textContent = `cannot reach the server: ${error.message}`;
  }
}

let searchTimer = null;
$("trace-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(refreshLibrary, 200);
});
$("run-form").addEventListener("submit", submitGoal);
$("goal").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("run-form").requestSubmit();
});
$("cancel-button").addEventListener("click", cancelSelected);

refreshStatus();
refreshTasks();
refreshLibrary();
refreshEconomy();
setInterval(() => { refreshTasks(); refreshStatus(); }, 2000);
