// The issues view: the list with its filters (kept in the URL), an issue's detail with its
// snapshots, timeline and verdicts, and the live stream of changes.
"use strict";

// The verdicts the issue's status allows (the server's lifecycle says which), who gives them
// (kept for the browser session) and a note; the answer redraws the issue.
function verdictForm(i) {
  const by = h("input", { name: "by", value: sessionStorage.getItem("shaobing-by") || "", placeholder: "姓名或工号 name or staff no.", maxlength: 64 });
  const note = h("textarea", { name: "note", rows: 2, maxlength: 2000 });
  const reason = h("select", { name: "reason" }, Object.entries(REASONS).map(([v, l]) => h("option", { value: v }, l)));
  const error = h("p", { class: "verdict-error error", role: "alert" });
  const buttons = (i.verdicts || []).map((v) => h("button", { type: "button", class: `verdict verdict-${v}`, "data-verdict": v }, VERDICTS[v] || v));
  const form = h("form", { class: "verdict-form" },
    h("label", {}, "经办人 By ", by), h("label", { class: "reason" }, "驳回理由 Reason ", reason),
    h("label", { class: "note" }, "备注 Note ", note), h("div", { class: "actions" }, buttons), error);
  form.addEventListener("submit", (ev) => ev.preventDefault());
  form.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-verdict]");
    if (!button) return;
    // A page read with the Basic password may read, not decide: the token is asked for.
    if (!TOKEN) { askToken(); return; }
    const verdict = button.dataset.verdict;
    const body = { verdict, by: by.value.trim(), note: note.value.trim() || undefined };
    if (verdict === "dismiss") body.reason = reason.value;
    if (!body.by) { error.textContent = "经办人必填 Who gives the verdict?"; by.focus(); return; }
    sessionStorage.setItem("shaobing-by", body.by);
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const { issue } = await giveVerdict(i.id, body);
      note.value = "";
      upsertIssue(issue, false);
      await showDetail(i.id);
      if (verdict === "dismiss") pollSuppressions();
      if (verdict === "confirm" || verdict === "dismiss") pollPrecision();
    } catch (e) {
      error.textContent = e.message;
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return form;
}


// ---- issues --------------------------------------------------------------------------------

const issueRows = new Map(); // id -> <tr>
let nextCursor = null;
let cursorKnown = false; // false until the first page of the current list has been loaded

function evidenceCell(issue, old) {
  const ev = issue.evidence || [];
  const key = ev.map((e) => `${e.kind}:${e.sha256}`).join(",");
  if (old && old.dataset.key === key) return old;
  const td = h("td", { class: "evidence", "data-key": key });
  for (const kind of ["before", "after", "still_present"]) {
    const e = ev.findLast((x) => x.kind === kind);
    if (!e) continue;
    const img = h("img", { class: `evidence-${kind}`, alt: `${kind} snapshot`, title: `${kind} · ${fmtTime(e.captured_at)}` });
    td.append(img);
    loadImage(img, e.url, () => img.replaceWith(h("span", { class: `evidence-${kind} data` }, `${kind}: data`)));
  }
  if (old) old.querySelectorAll("img[src^='blob:']").forEach((i) => URL.revokeObjectURL(i.src));
  return td;
}

function issueRow(i, old) {
  const tr = h("tr", { class: `issue-row status-${i.status} priority-${i.priority}${i.overdue ? " overdue" : ""}`,
    "data-id": i.id, "data-overdue": i.overdue ? "yes" : "no", tabindex: 0 },
    h("td", { class: "category" }, categoryLabel(i.category), h("small", {}, ` ${i.event_code}`)),
    h("td", { class: "priority" }, `${PRIORITIES[i.priority] || ""} ${i.priority}`),
    h("td", { class: "status" }, `${STATUSES[i.status] || ""} ${i.status}`,
      i.overdue ? h("span", { class: "badge overdue", title: `missed: ${i.missed.join(", ")}` }, "超时 overdue") : null),
    h("td", { class: "place" }, place(i)),
    h("td", { class: "department" }, i.department),
    h("td", { class: "cause" }, i.cause),
    h("td", { class: "occurrences num" }, i.occurrences),
    h("td", { class: "first-seen", title: i.first_seen }, fmtTime(i.first_seen)),
    h("td", { class: "last-seen", title: i.last_seen }, fmtTime(i.last_seen)),
    evidenceCell(i, old && old.querySelector("td.evidence")));
  tr.addEventListener("click", () => showDetail(i.id));
  tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") showDetail(i.id); });
  return tr;
}

// The list's filters, kept in the page's URL (?category=…&priority=…) so that a view can be
// bookmarked, shared and reloaded. `since` is a look-back in hours, sent as a time.
const FILTERS = ["status", "category", "source", "priority", "since"];

function filterInput(name) {
  return document.getElementById(`${name}-filter`);
}

function filters() {
  const f = {};
  for (const name of FILTERS) {
    const v = filterInput(name).value.trim();
    if (v) f[name] = v;
  }
  return f;
}

/** Whether issue `i` belongs in the list as filtered. */
function listed(i) {
  const f = filters();
  const since = f.since ? Date.now() - Number(f.since) * 3600 * 1000 : null;
  return (!f.status || i.status === f.status) && (!f.category || i.category === f.category) &&
    (!f.source || i.source === f.source) && (!f.priority || i.priority === f.priority) &&
    (since === null || new Date(i.first_seen).getTime() >= since);
}

function filtered() {
  return Object.keys(filters()).length > 0;
}

function setUpFilters() {
  const category = filterInput("category");
  for (const [code, [zh, en]] of Object.entries(CATEGORIES)) category.append(h("option", { value: code }, `${zh} ${en}`));
  const url = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    const input = filterInput(name);
    if (url.has(name)) input.value = url.get(name);
    input.addEventListener("change", () => {
      const q = new URLSearchParams(filters());
      history.replaceState(null, "", `${location.pathname}${q.toString() ? `?${q}` : ""}${location.hash}`);
      resetIssues();
    });
  }
}

// Inserts or replaces an issue's row; a new row goes first when `top`, else last; an issue not
// listed yet is only added when `insert`.
function upsertIssue(i, top, insert = true) {
  trackEmergency(i);
  const tbody = document.querySelector("#issues tbody");
  const old = issueRows.get(i.id);
  if (!listed(i)) {
    if (old) { old.remove(); issueRows.delete(i.id); }
  } else if (old || insert) {
    const tr = issueRow(i, old);
    if (old) old.replaceWith(tr);
    else if (top) tbody.prepend(tr);
    else tbody.append(tr);
    issueRows.set(i.id, tr);
    if (top && !old) { tr.classList.add("fresh"); setTimeout(() => tr.classList.remove("fresh"), 3000); }
  }
  document.querySelector("#issues .empty").hidden = issueRows.size > 0;
}

async function loadIssues(cursor) {
  const { since, ...f } = filters();
  const q = new URLSearchParams({ limit: "50", ...f });
  if (since) q.set("since", String(Date.now() - Number(since) * 3600 * 1000));
  if (cursor) q.set("cursor", cursor);
  try {
    const page = await api(`/api/v1/issues?${q}`);
    if (cursor) page.items.forEach((i) => upsertIssue(i, false));
    else page.items.slice().reverse().forEach((i) => upsertIssue(i, true));
    if (cursor || !cursorKnown) { nextCursor = page.next_cursor; cursorKnown = true; }
    document.getElementById("load-more").hidden = !nextCursor;
    document.querySelector("#issues .empty").hidden = issueRows.size > 0;
    showError("issues", null);
  } catch (e) { showError("issues", e); }
}

function resetIssues() {
  for (const tr of issueRows.values()) {
    tr.querySelectorAll("img[src^='blob:']").forEach((i) => URL.revokeObjectURL(i.src));
    tr.remove();
  }
  issueRows.clear();
  nextCursor = null;
  cursorKnown = false;
  loadIssues(null);
}

// ---- issue details -------------------------------------------------------------------------

let detailId = null;

async function showDetail(id) {
  const dlg = document.getElementById("detail");
  const body = dlg.querySelector(".body");
  detailId = id;
  let i;
  try { i = await api(`/api/v1/issues/${encodeURIComponent(id)}`); } catch (e) {
    body.replaceChildren(h("p", { class: "error" }, e.message));
    if (!dlg.open) dlg.showModal();
    return;
  }
  const fields = [
    ["ID", i.id], ["类别 Category", `${categoryLabel(i.category)} (${i.event_code})`],
    ["优先级 Priority", `${PRIORITIES[i.priority] || ""} ${i.priority}`],
    ["状态 Status", `${STATUSES[i.status] || ""} ${i.status}`], ["地点 Place", place(i)],
    ["来源 Source", i.source], ["区域 Zone", i.zone], ["部门 Department", i.department],
    ["层级 Tier", label(TIERS, i.tier)], ["处置路径 Resolution path", i.resolution_path],
    ["响应时限 Respond by", fmtTime(i.respond_by)], ["办结时限 Resolve by", fmtTime(i.resolve_by)],
    ["超时 Overdue", i.missed.length ? i.missed.map((m) => label(MISSED, m)).join(", ") : "否 no"],
    ["知悉 Acknowledged", fmtTime(i.acknowledged)],
    ["吹哨类型 Whistle kind", label(WHISTLE_KINDS, i.whistle_kind)], ["渠道 Channel", label(CHANNELS, i.channel)],
    ["原因 Cause", i.cause], ["规则 Rule", i.rule], ["置信度 Confidence", `${Math.round(100 * i.confidence)} %`],
    ["次数 Occurrences", i.occurrences], ["首次 First seen", fmtTime(i.first_seen)],
    ["最近 Last seen", fmtTime(i.last_seen)], ["更新 Updated", fmtTime(i.updated)],
    ["时区 Time zone", ZONE], ["Dedup key", i.dedup_key],
  ];
  const dl = h("dl", {}, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined ? "—" : v)]));
  const shots = h("div", { class: "shots" });
  const order = (e) => EVIDENCE_ORDER.indexOf(e.kind) < 0 ? EVIDENCE_ORDER.length : EVIDENCE_ORDER.indexOf(e.kind);
  for (const e of (i.evidence || []).slice().sort((a, b) => order(a) - order(b))) {
    const caption = h("figcaption", {}, h("strong", {}, label(EVIDENCE_KINDS, e.kind)),
      ` · ${fmtTime(e.captured_at)} · ${fmtBytes(e.bytes)} · sha256 ${e.sha256.slice(0, 16)}…`);
    if (e.kind === "clip") {
      const video = h("video", { class: "evidence-clip", controls: "", muted: "", preload: "metadata" });
      shots.append(h("figure", { class: "clip" }, video, caption));
      loadVideo(video, e.url);
      continue;
    }
    const img = h("img", { class: `evidence-${e.kind}`, alt: `${e.kind} snapshot` });
    const link = h("a", { href: "#", title: "放大 Open full size" }, img);
    link.addEventListener("click", (ev) => { ev.preventDefault(); if (img.src) window.open(img.src, "_blank"); });
    shots.append(h("figure", { class: `shot shot-${e.kind}` }, link, caption));
    loadImage(img, e.url, async () => {
      try {
        const chart = readingsChart(await api(e.url));
        chart.classList.add(`evidence-${e.kind}`, "data");
        link.replaceWith(chart);
      } catch (err) {
        link.replaceWith(h("p", { class: `evidence-${e.kind} data` }, `${e.kind}: ${err.message}`));
      }
    });
  }
  const timeline = issueTimeline(i);
  const verdicts = (i.verdicts || []).length ? [h("h3", {}, "处置 Verdict"), verdictForm(i)] : [];
  // A redraw (the issue changed meanwhile) keeps what the operator was typing.
  const typed = body.querySelector(".verdict-form textarea[name=note]");
  const same = body.querySelector("h2") && body.querySelector("h2").dataset.id === i.id;
  const keep = same && typed && typed.value && verdicts.length ? typed.value : null;
  const title = h("h2", { "data-id": i.id, "data-status": i.status }, `${categoryLabel(i.category)} · ${STATUSES[i.status] || ""} ${i.status}`);
  body.replaceChildren(title, h("h3", {}, "证据 Evidence"), shots, ...verdicts, h("h3", {}, "时间线 Timeline"), timeline,
    h("h3", {}, "详情 Details"), dl);
  if (keep) body.querySelector(".verdict-form textarea[name=note]").value = keep;
  if (!dlg.open) dlg.showModal();
}

const EVIDENCE_ORDER = ["before", "still_present", "after", "clip", "readings"];
const EVIDENCE_KINDS = {
  before: "发现时 before", after: "处置后 after", still_present: "仍存在 still present", clip: "视频 clip",
  readings: "读数 readings",
};

/** A change of an issue's history as a step of its timeline. */
function timelineStep(x, i) {
  if (!x.from) return `立案 Filed as ${label(STATUSES, x.to)} ${x.to}`;
  if (x.from === x.to) {
    if ((x.note || "").startsWith("overdue")) return "超时升级 Overdue, escalated";
    // The acknowledgement is the one change made at the moment the issue was acknowledged.
    if (i.acknowledged && new Date(x.at).getTime() === new Date(i.acknowledged).getTime()) return "知悉 Acknowledged";
    return `${label(STATUSES, x.to)} ${x.to}: 记录 noted`;
  }
  if (x.to === "dispatched" && (x.from === "resolved" || x.from === "verified")) return "复查仍在，重新派单 Still there: reopened";
  return `${label(STATUSES, x.from)} → ${label(STATUSES, x.to)} ${x.to}`;
}

/** What happened to an issue, in order: first seen, filed, every verdict and change, resolved. */
function issueTimeline(i) {
  const steps = [{ at: i.first_seen, what: "首次发现 First seen", actor: i.source, cls: "seen" }]
    .concat((i.history || []).map((x) => ({ at: x.at, what: timelineStep(x, i), actor: x.actor, note: x.note, cls: `to-${x.to}` })));
  steps.sort((a, b) => new Date(a.at) - new Date(b.at));
  return h("ol", { class: "timeline" }, steps.map((s) => h("li", { class: `step ${s.cls}` },
    h("time", { datetime: s.at }, fmtTime(s.at)), h("strong", {}, s.what),
    s.actor ? h("span", { class: "actor" }, s.actor) : null, s.note ? h("q", {}, s.note) : null)));
}

// ---- live updates (SSE read with fetch so the bearer token can be sent) ---------------------

function setLive(on) {
  const el = document.getElementById("live");
  el.textContent = on ? "live" : "reconnecting…";
  el.className = `live ${on ? "on" : "off"}`;
}

function handleEvent(type, data) {
  if (type !== "issue") return;
  let msg;
  try { msg = JSON.parse(data); } catch (_) { return; }
  if (!msg || !msg.issue) return;
  // An update to an issue not listed is older than the loaded pages, unless a filter now matches it.
  upsertIssue(msg.issue, true, msg.change === "new" || filtered());
  // Sightings folded in change nothing an operator acts on; a redraw would only disturb typing.
  const dlg = document.getElementById("detail");
  if (dlg.open && detailId === msg.issue.id && msg.change !== "updated") showDetail(detailId);
}

async function streamEvents(first) {
  try {
    const res = await fetch("/api/v1/events", { headers: { ...authHeaders(), Accept: "text/event-stream" }, cache: "no-store" });
    if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
    setLive(true);
    if (!first) loadIssues(null); // catch up on what was missed while disconnected
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "", type = "message", data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (data.length) handleEvent(type, data.join("\n"));
          type = "message"; data = [];
        } else if (!line.startsWith(":")) {
          const c = line.indexOf(":");
          const field = c < 0 ? line : line.slice(0, c);
          const val = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
          if (field === "event") type = val;
          else if (field === "data") data.push(val);
        }
      }
    }
  } catch (_) { /* reconnect below */ }
  setLive(false);
  setTimeout(() => streamEvents(false), 3000);
}

