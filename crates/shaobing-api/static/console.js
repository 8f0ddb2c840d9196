// shaobing console: cameras, issues with their evidence and the operator's verdicts, sensors.
// Plain ES2020, no dependencies. All data is inserted as text.
"use strict";

// The token never travels in the URL (it would land in history, logs and Referer headers).
// A browser that loaded this page with the token as its Basic password sends it with every
// request of the page by itself; a kiosk page that opens the console may instead put it in
// sessionStorage under "shaobing-token", and it is then sent as a bearer header. The sign-in
// form puts it there for the browser session: verdicts need it (a Basic password only reads).
const TOKEN = sessionStorage.getItem("shaobing-token");
const VERDICTS = {
  confirm: "确认 Confirm", dismiss: "驳回 Dismiss", dispatch: "派单 Dispatch",
  handled: "已处置 Handled", verify: "核验 Verify", note: "备注 Note", acknowledge: "知悉 Acknowledge",
};
const REASONS = {
  not_a_problem: "不是问题 Not a problem", wrong_category: "类别错误 Wrong category",
  permitted: "已许可 Permitted", duplicate: "重复 Duplicate",
};
const CATEGORIES = {
  illegal_parking: ["机动车乱停放", "Illegal parking"],
  street_vending: ["占道经营", "Street vending"],
  unlicensed_tricycle: ["黑三轮", "Unlicensed tricycle"],
  non_motor_parking: ["非机动车乱停放", "Non-motor vehicle parking"],
  street_clutter: ["乱堆物料/暴露垃圾", "Goods or rubbish left"],
  crowd_gathering: ["人群聚集", "Crowd gathering"],
  fire_smoke: ["烟火", "Fire/smoke"],
  air_pollution: ["空气污染", "Air pollution"],
  parking_saturated: ["停车场饱和", "Parking lot saturated"],
  congestion: ["交通拥堵", "Congestion"],
  device_maintenance: ["设备维护", "Device maintenance"],
};
const STATUSES = {
  candidate: "待核实", confirmed: "已确认", dispatched: "已派单",
  resolved: "已解决", verified: "已核验", dismissed: "已驳回",
};
const PRIORITIES = { routine: "常规", emergency: "紧急" };
const TIERS = {
  community_to_street: "社区吹哨、科室报到 Community to sub-district",
  street_to_district: "街道吹哨、部门报到 Sub-district to district",
  district_supervision: "区级专班督办 District supervision",
};
const WHISTLE_KINDS = {
  clear_rectify_improve: "疏解整治促提升 Clear, rectify, improve", petitions_stability: "信访维稳 Petitions and stability",
  safety_hazards: "安全隐患 Safety hazards", ecology: "生态文明 Ecology", liveable_life: "宜居生活 Liveable life",
  public_services: "公共服务 Public services", other: "其他 Other",
};
const CHANNELS = {
  command_centre_video: "指挥中心视频 Command centre video", command_centre_sensor: "指挥中心传感器 Command centre sensor",
  district_assigned: "区委区政府交办 Assigned by the district", citizen_hotline: "96105 等互动平台 Citizen platforms",
  sub_district_sections: "街道科室 Sub-district sections", resident_petition: "居民群众反映 Residents' reports",
  street_chief_patrol: "街巷长、小巷管家巡查 Street chief patrol", grid_worker: "网格员 Grid worker",
  sudden_emergency: "突发应急事件 Sudden emergency", other: "其他途径 Other",
};
const CAMERA_STATES = { connecting: "连接中 connecting", streaming: "正常 streaming", retrying: "重连中 retrying", stopped: "已停止 stopped" };
const DOWN_REASONS = {
  eos: "流已结束 stream ended", stalled: "画面停滞 stalled", unreachable: "无法连接 unreachable",
  unauthorized: "认证失败 wrong user or password", not_found: "路径不存在 no such stream", unsupported: "编码不支持 unsupported codec",
  no_video: "无视频 no video", bad_stream: "码流损坏 bad stream", start_failed: "启动失败 could not start",
  bus_closed: "管线关闭 pipeline closed", error: "错误 error", other: "其他 other",
};
const MISSED = { response: "响应超时 response late", resolution: "办结超时 resolution late" };
/** The box keeps China Standard Time (UTC+8, no daylight saving); the page says so. */
const ZONE = "北京时间 CST (UTC+8)";

/** A code as its Chinese name with the English beside it, the code itself when unknown. */
function label(names, code) {
  return (code && names[code]) || code || "—";
}

// h("td", {class: "x"}, "text", node) -> element; strings become text nodes, never markup.
const SVG_TAGS = new Set(["svg", "polygon", "polyline", "title"]);

function h(tag, attrs, ...children) {
  const el = SVG_TAGS.has(tag) ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function authHeaders() {
  return TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
}

// GET (or, with `init`, any method) of a JSON API path; an answer that is not 2xx throws its
// error text, and a 401 opens the sign-in form.
async function api(path, init) {
  const headers = { ...authHeaders(), ...((init && init.headers) || {}) };
  const res = await fetch(path, { cache: "no-store", ...(init || {}), headers });
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { msg = (await res.json()).error || msg; } catch (_) { /* not JSON */ }
    if (res.status === 401) askToken();
    throw new Error(msg);
  }
  return res.json();
}

// ---- sign-in ----------------------------------------------------------------------------------

function askToken() {
  const dlg = document.getElementById("login");
  if (dlg && !dlg.open) dlg.showModal();
}

function setUpSignIn() {
  const dlg = document.getElementById("login");
  dlg.querySelector("form").addEventListener("submit", () => {
    const token = dlg.querySelector("input[name=token]").value.trim();
    if (token) sessionStorage.setItem("shaobing-token", token);
    location.reload();
  });
  const button = document.getElementById("sign-in");
  button.textContent = TOKEN ? "退出 Sign out" : "登录 Sign in";
  button.addEventListener("click", () => {
    if (!TOKEN) return askToken();
    sessionStorage.removeItem("shaobing-token");
    location.reload();
  });
}

// ---- verdicts ---------------------------------------------------------------------------------

async function giveVerdict(id, body) {
  return api(`/api/v1/issues/${encodeURIComponent(id)}/verdict`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
}

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

// ---- emergencies: a banner and a sound until someone acknowledges -----------------------------

const OPEN = ["candidate", "confirmed", "dispatched"];
const alarming = new Map(); // id -> an open emergency nobody has acknowledged
let audio = null;
let beeper = null;

function trackEmergency(i) {
  if (i.priority === "emergency" && !i.acknowledged && OPEN.includes(i.status)) alarming.set(i.id, i);
  else alarming.delete(i.id);
  renderBanner();
}

/** A tone every 1.5 s; a browser that holds sound back until a click plays it from then on. */
function startAlarm() {
  if (beeper) return;
  const beep = () => {
    try {
      audio = audio || new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    } catch (_) { /* no audio device: the banner still stands */ }
  };
  beep();
  beeper = setInterval(beep, 1500);
}

function stopAlarm() {
  if (beeper) clearInterval(beeper);
  beeper = null;
}

function renderBanner() {
  const banner = document.getElementById("emergency");
  const waiting = [...alarming.values()].sort((a, b) => (a.first_seen < b.first_seen ? 1 : -1));
  banner.hidden = waiting.length === 0;
  banner.dataset.alarm = waiting.length ? "on" : "off";
  if (!waiting.length) { stopAlarm(); banner.replaceChildren(); delete banner.dataset.id; return; }
  const i = waiting[0];
  if (banner.dataset.id === i.id && banner.dataset.more === String(waiting.length - 1)) return;
  banner.dataset.id = i.id;
  banner.dataset.more = String(waiting.length - 1);
  const shot = h("img", { class: "emergency-shot", alt: "snapshot" });
  const before = (i.evidence || []).find((e) => e.kind === "before");
  if (before) loadImage(shot, before.url, () => shot.remove());
  const by = h("input", { name: "by", value: sessionStorage.getItem("shaobing-by") || "", placeholder: "经办人 By", maxlength: 64 });
  const error = h("span", { class: "error", role: "alert" });
  const ack = h("button", { type: "button", class: "acknowledge" }, VERDICTS.acknowledge);
  ack.addEventListener("click", async () => {
    if (!TOKEN) { askToken(); return; }
    if (!by.value.trim()) { error.textContent = "经办人必填 Who acknowledges?"; by.focus(); return; }
    sessionStorage.setItem("shaobing-by", by.value.trim());
    try {
      const { issue } = await giveVerdict(i.id, { verdict: "acknowledge", by: by.value.trim() });
      upsertIssue(issue, false, false);
    } catch (e) { error.textContent = e.message; }
  });
  const details = h("button", { type: "button", class: "details" }, "详情 Details");
  details.addEventListener("click", () => showDetail(i.id));
  banner.replaceChildren(shot,
    h("div", { class: "emergency-text" },
      h("strong", {}, `紧急 Emergency · ${categoryLabel(i.category)}`),
      h("span", { class: "where" }, place(i)), h("span", {}, i.cause),
      h("span", {}, `${fmtTime(i.first_seen)}${waiting.length > 1 ? ` · 另有 ${waiting.length - 1} 起 ${waiting.length - 1} more` : ""}`)),
    h("div", { class: "emergency-actions" }, by, ack, details, error));
  startAlarm();
}

// ---- suppressions -----------------------------------------------------------------------------

async function pollSuppressions() {
  try {
    const { items } = await api("/api/v1/suppressions");
    const rows = items.map((x) => {
      const undo = h("button", { type: "button", class: "undo", "data-issue": x.issue_id }, "撤销 Undo");
      undo.addEventListener("click", async () => {
        const by = sessionStorage.getItem("shaobing-by") || prompt("经办人 By") || "";
        if (!by.trim()) return;
        try {
          await api(`/api/v1/issues/${encodeURIComponent(x.issue_id)}/suppression`, {
            method: "DELETE", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by: by.trim() }),
          });
          pollSuppressions();
        } catch (e) { showError("suppressions", e); }
      });
      return h("tr", { class: "suppression-row", "data-key": x.dedup_key },
        h("td", {}, `${categoryLabel(x.category)} (${x.category})`), h("td", {}, x.source), h("td", {}, x.reason),
        h("td", {}, x.by), h("td", {}, fmtTime(x.until_ms)), h("td", { class: "num suppressed" }, x.suppressed), h("td", {}, undo));
    });
    document.querySelector("#suppressions tbody").replaceChildren(...rows);
    document.querySelector("#suppressions .empty").hidden = rows.length > 0;
    showError("suppressions", null);
  } catch (e) { showError("suppressions", e); }
}

function showError(section, err) {
  const p = document.querySelector(`#${section} .error`);
  p.textContent = err ? String(err.message || err) : "";
  p.hidden = !err;
}

// Loads an image into `img`. Without a token the browser fetches it directly; with one it is
// fetched with the Authorization header and shown from a blob URL. Calls onMissing(res) when
// the server has no image (or answers with something that is not an image, e.g. JSON evidence).
async function loadImage(img, url, onMissing) {
  if (!TOKEN) {
    return new Promise((resolve) => {
      const probe = new Image();
      probe.onload = () => { img.src = probe.src; resolve(); };
      probe.onerror = () => { if (onMissing) onMissing(null); resolve(); };
      probe.src = url;
    });
  }
  try {
    const res = await fetch(url, { headers: authHeaders(), cache: "no-store" });
    const blob = res.ok ? await res.blob() : null;
    if (!blob || !blob.type.startsWith("image/")) return onMissing && onMissing(res);
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
  } catch (_) {
    if (onMissing) onMissing(null);
  }
}

// Loads a clip into `video` the same way: fetched by the browser itself without a token, from
// a blob URL with one (a <video> cannot send the Authorization header).
async function loadVideo(video, url) {
  if (!TOKEN) {
    video.src = url;
    return;
  }
  try {
    const res = await fetch(url, { headers: authHeaders(), cache: "no-store" });
    const blob = res.ok ? await res.blob() : null;
    if (blob && blob.type.startsWith("video/")) video.src = URL.createObjectURL(blob);
  } catch (_) {
    // The figure's caption still names the clip and its hash.
  }
}

/** A time in the box's zone (China Standard Time), whatever zone the browser is in. */
function fmtTime(s) {
  if (!s) return "—";
  const d = new Date(s);
  if (isNaN(d)) return s;
  const cst = new Date(d.getTime() + 8 * 3600 * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${cst.getUTCFullYear()}-${p(cst.getUTCMonth() + 1)}-${p(cst.getUTCDate())} ` +
    `${p(cst.getUTCHours())}:${p(cst.getUTCMinutes())}:${p(cst.getUTCSeconds())}`;
}

function categoryLabel(c) {
  const l = CATEGORIES[c];
  return l ? `${l[0]} ${l[1]}` : c;
}

function place(i) {
  const parts = [i.address || (i.zone ? `${i.source}/${i.zone}` : i.source)];
  if (i.grid_cell) parts.push(`grid ${i.grid_cell}`);
  if (i.lat !== null && i.lat !== undefined && i.lon !== null && i.lon !== undefined) {
    parts.push(`${i.lat.toFixed(6)}, ${i.lon.toFixed(6)}`);
  }
  return parts.join(" · ");
}

// ---- cameras -------------------------------------------------------------------------------

const cameraCards = new Map(); // id -> {card, prev: {t, frames}}

function rate(now, prev, key) {
  if (!prev) return "—";
  const dt = (now.t - prev.t) / 1000;
  return dt > 0 ? ((now.frames[key] - prev.frames[key]) / dt).toFixed(1) : "—";
}

function renderCamera(cam, t) {
  let entry = cameraCards.get(cam.id);
  if (!entry) {
    const img = h("img", { class: "frame", alt: `latest analysed frame of ${cam.id}` });
    const card = h("article", { class: "camera-card missing", "data-id": cam.id },
      h("h3", {}, cam.id, " ", h("span", { class: "badge state" })),
      h("div", { class: "frame-box" },
        h("span", { class: "frame-wrap" }, img,
          h("svg", { class: "masks", viewBox: "0 0 1 1", preserveAspectRatio: "none" })),
        h("span", { class: "no-frame" }, "no frame yet")),
      h("p", { class: "rates" }), h("p", { class: "meta" }));
    document.querySelector("#cameras .grid").append(card);
    entry = { card, img, prev: null, loading: false };
    cameraCards.set(cam.id, entry);
    drawMasks();
  }
  const { card } = entry;
  const badge = card.querySelector(".state");
  const why = cam.up || !cam.down_reason ? "" : `: ${label(DOWN_REASONS, cam.down_reason)}`;
  badge.textContent = `${label(CAMERA_STATES, cam.state)}${cam.up ? "" : " (down)"}${why}`;
  badge.dataset.reason = cam.down_reason || "";
  badge.className = `badge state state-${cam.state}${cam.up ? "" : " down"}`;
  const now = { t, frames: cam.frames };
  const f = cam.frames;
  card.querySelector(".rates").textContent =
    `analysed ${Number(cam.analysed_fps || 0).toFixed(2)} fps · decoded ${rate(now, entry.prev, "decoded")} fps · ` +
    `dropped ${rate(now, entry.prev, "dropped")} fps (totals: ${f.received} received, ${f.decoded} decoded, ` +
    `${f.analysed} analysed, ${f.dropped} dropped)`;
  entry.prev = now;
  const zones = (cam.zones || []).map((z) => `${z.id} (${z.kind})`).join(", ") || "none";
  card.querySelector(".meta").textContent =
    `models: ${(cam.models || []).join(", ") || "none"} · zones: ${zones} · last frame: ${fmtTime(cam.last_frame_at)}`;
}

function refreshFrame(id, entry) {
  if (entry.loading) return;
  entry.loading = true;
  const url = `/api/v1/cameras/${encodeURIComponent(id)}/frame.jpg?t=${Date.now()}`;
  entry.img.onload = () => entry.card.classList.remove("missing");
  loadImage(entry.img, url, () => entry.card.classList.add("missing"))
    .finally(() => { entry.loading = false; });
}

async function pollCameras() {
  try {
    const { items } = await api("/api/v1/cameras");
    const t = Date.now();
    const seen = new Set();
    for (const cam of items) { renderCamera(cam, t); seen.add(cam.id); }
    for (const [id, e] of cameraCards) {
      if (!seen.has(id)) { e.card.remove(); cameraCards.delete(id); }
    }
    showError("cameras", null);
  } catch (e) { showError("cameras", e); }
  for (const [id, e] of cameraCards) refreshFrame(id, e);
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
  for (const e of i.evidence || []) {
    const caption = h("figcaption", {}, `${e.kind} · ${fmtTime(e.captured_at)} · ${e.bytes} B · sha256 ${e.sha256}`);
    if (e.kind === "clip") {
      const video = h("video", { class: "evidence-clip", controls: "", muted: "", preload: "metadata" });
      shots.append(h("figure", {}, video, caption));
      loadVideo(video, e.url);
      continue;
    }
    const img = h("img", { class: `evidence-${e.kind}`, alt: `${e.kind} snapshot` });
    shots.append(h("figure", {}, img, caption));
    loadImage(img, e.url, async () => {
      try {
        const chart = readingsChart(await api(e.url));
        chart.classList.add(`evidence-${e.kind}`, "data");
        img.replaceWith(chart);
      } catch (err) {
        img.replaceWith(h("p", { class: `evidence-${e.kind} data` }, `${e.kind}: ${err.message}`));
      }
    });
  }
  const history = h("table", { class: "history" },
    h("thead", {}, h("tr", {}, h("th", {}, "时间 At"), h("th", {}, "From"), h("th", {}, "To"), h("th", {}, "Actor"), h("th", {}, "Note"))),
    h("tbody", {}, (i.history || []).map((x) => h("tr", {},
      h("td", {}, fmtTime(x.at)), h("td", {}, x.from || "—"), h("td", {}, x.to), h("td", {}, x.actor), h("td", {}, x.note || "")))));
  const verdicts = (i.verdicts || []).length ? [h("h3", {}, "处置 Verdict"), verdictForm(i)] : [];
  // A redraw (the issue changed meanwhile) keeps what the operator was typing.
  const typed = body.querySelector(".verdict-form textarea[name=note]");
  const same = body.querySelector("h2") && body.querySelector("h2").dataset.id === i.id;
  const keep = same && typed && typed.value && verdicts.length ? typed.value : null;
  const title = h("h2", { "data-id": i.id, "data-status": i.status }, `${categoryLabel(i.category)} · ${STATUSES[i.status] || ""} ${i.status}`);
  body.replaceChildren(title, dl, ...verdicts, shots, h("h3", {}, "历史 History"), history);
  if (keep) body.querySelector(".verdict-form textarea[name=note]").value = keep;
  if (!dlg.open) dlg.showModal();
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

// ---- sensors -------------------------------------------------------------------------------

const QUANTITIES = {
  pm2_5: "PM2.5", pm10: "PM10", no2: "NO₂ 二氧化氮", so2: "SO₂ 二氧化硫", o3: "O₃ 臭氧", co: "CO 一氧化碳",
  occupancy: "占用率 occupancy", free_spaces: "空位 free spaces", flow: "流量 flow", speed: "车速 speed",
  congestion_index: "拥堵指数 congestion index",
};

/** A reading as people write it: µg/m³, a ratio in per cent, rounded. */
function reading(quantity, value, unit) {
  const round = (v, digits) => Number(v.toFixed(digits)).toString();
  const name = label(QUANTITIES, quantity);
  switch (unit) {
    case "ug/m3": return `${name} ${round(value, 1)} µg/m³`;
    case "mg/m3": return `${name} ${round(value, 2)} mg/m³`;
    case "ratio": return `${name} ${round(100 * value, 1)} %`;
    case "percent": return `${name} ${round(value, 1)} %`;
    case "count": return `${name} ${round(value, 0)}`;
    case "index": return `${name} ${round(value, 2)}`;
    default: return `${name} ${round(value, 2)} ${unit || ""}`.trim();
  }
}

/**
 * A sensor issue's evidence (the readings around it) as a small chart: the signal over time,
 * the raise and clear thresholds as lines, times in the box's zone.
 */
function readingsChart(ev) {
  const points = (ev.points || []).filter((p) => Number.isFinite(p.signal ?? p.value));
  if (points.length === 0) return h("p", { class: "readings-chart empty" }, "无读数 No readings");
  // Each point's time is epoch milliseconds (`t`).
  const t = (p) => (typeof p.t === "number" ? p.t : new Date(p.t).getTime());
  const y = (p) => p.signal ?? p.value;
  const values = points.map(y).concat([ev.raise, ev.clear].filter(Number.isFinite));
  const [t0, t1] = [t(points[0]), Math.max(t(points[points.length - 1]), t(points[0]) + 1)];
  const [lo, hi] = [Math.min(...values), Math.max(...values, Math.min(...values) + 1e-9)];
  const W = 600, H = 160, pad = 8;
  const px = (ms) => pad + ((ms - t0) / (t1 - t0)) * (W - 2 * pad);
  const py = (v) => H - pad - ((v - lo) / (hi - lo)) * (H - 2 * pad);
  const line = (v, cls) => h("polyline", { class: cls, points: `${pad},${py(v)} ${W - pad},${py(v)}` });
  const svg = h("svg", { class: "readings-chart", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `${ev.sensor || ""} ${ev.quantity || ""}` },
    Number.isFinite(ev.raise) ? line(ev.raise, "raise") : null,
    Number.isFinite(ev.clear) ? line(ev.clear, "clear") : null,
    h("polyline", { class: "signal", points: points.map((p) => `${px(t(p)).toFixed(1)},${py(y(p)).toFixed(1)}`).join(" ") }));
  const last = points[points.length - 1];
  const caption = `${ev.sensor || ""} · ${reading(ev.quantity, last.value, ev.unit)} · ` +
    `${fmtTime(t(points[0]))} – ${fmtTime(t(last))} · 触发 raise ${ev.raise ?? "—"} · 解除 clear ${ev.clear ?? "—"}`;
  return h("figure", { class: "readings" }, svg, h("figcaption", {}, caption));
}

// HJ 633-2012 AQI level colours.
function aqiClass(iaqi) {
  if (iaqi <= 50) return "aqi-1";
  if (iaqi <= 100) return "aqi-2";
  if (iaqi <= 150) return "aqi-3";
  if (iaqi <= 200) return "aqi-4";
  if (iaqi <= 300) return "aqi-5";
  return "aqi-6";
}

function sensorRow(s) {
  const loc = s.location || {};
  const where = loc.address || (loc.lat !== null && loc.lat !== undefined ? `${loc.lat}, ${loc.lon}` : "—");
  const readings = h("ul", { class: "readings" }, (s.latest || []).map((r) =>
    h("li", { title: r.at }, reading(r.quantity, r.value, r.unit), h("small", {}, ` ${fmtTime(r.at)}`))));
  const lv = s.level;
  const level = lv
    ? h("td", { class: `level ${aqiClass(lv.iaqi)}` }, `${lv.iaqi} ${lv.category_zh} ${lv.category}`)
    : h("td", { class: "level" }, "—");
  return h("tr", { class: "sensor-row", "data-id": s.id },
    h("td", {}, s.id), h("td", {}, s.group), h("td", {}, s.kind), h("td", {}, where), h("td", {}, readings), level);
}

async function pollSensors() {
  try {
    const { items } = await api("/api/v1/sensors");
    document.querySelector("#sensors tbody").replaceChildren(...items.map(sensorRow));
    showError("sensors", null);
  } catch (e) { showError("sensors", e); }
}

// ---- the terminal: a phone's view for street staff (#terminal) --------------------------------


// Metres between two points (haversine): close enough across a sub-district.
function metres(a, b) {
  const rad = (d) => (d * Math.PI) / 180;
  const dlat = rad(b.lat - a.lat), dlon = rad(b.lon - a.lon);
  const x = Math.sin(dlat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dlon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(x));
}

function here() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }), () => resolve(null), { timeout: 5000 });
  });
}

// The open issues, newest pages first, as far as a phone needs to look.
async function openIssues() {
  let items = [], cursor = null;
  for (let page = 0; page < 10; page += 1) {
    const q = new URLSearchParams({ limit: "100" });
    if (cursor) q.set("cursor", cursor);
    const res = await api(`/api/v1/issues?${q}`);
    items = items.concat(res.items.filter((i) => OPEN.includes(i.status)));
    cursor = res.next_cursor;
    if (!cursor) break;
  }
  return items;
}

function terminalCard(i, where) {
  const located = i.lat !== null && i.lat !== undefined && i.lon !== null && i.lon !== undefined;
  const distance = where && located ? Math.round(metres(where, i)) : null;
  const before = (i.evidence || []).find((e) => e.kind === "before");
  const img = h("img", { class: "snapshot", alt: "snapshot" });
  if (before) loadImage(img, before.url, () => img.remove());
  // geo: opens the phone's own map app; no map server is assumed.
  const map = located ? h("a", { class: "map", href: `geo:${i.lat},${i.lon}?q=${i.lat},${i.lon}` }, "地图 Map") : null;
  const note = h("textarea", { name: "note", rows: 2, placeholder: "处置情况 What was done" });
  const done = h("button", { type: "button", class: "handled" }, "已处置 Handled");
  const error = h("p", { class: "error", role: "alert" });
  done.addEventListener("click", async () => {
    if (!TOKEN) return askToken();
    const by = sessionStorage.getItem("shaobing-by") || prompt("经办人 By") || "";
    if (!by.trim()) return;
    sessionStorage.setItem("shaobing-by", by.trim());
    done.disabled = true;
    try {
      await giveVerdict(i.id, { verdict: "handled", by: by.trim(), note: note.value.trim() || undefined });
      loadTerminal();
    } catch (e) { error.textContent = e.message; done.disabled = false; }
  });
  return h("li", { class: `terminal-card priority-${i.priority}`, "data-id": i.id },
    h("h3", {}, `${categoryLabel(i.category)} · ${STATUSES[i.status] || i.status}`),
    h("p", { class: "address" }, place(i)),
    distance === null ? null : h("p", { class: "distance" }, `${distance} m`),
    img, map, note, done, error);
}

async function loadTerminal() {
  try {
    const [issues, where] = await Promise.all([openIssues(), here()]);
    const select = document.getElementById("terminal-department");
    const departments = [...new Set(issues.map((i) => i.department))].sort();
    const chosen = localStorage.getItem("shaobing-department") || departments[0] || "";
    select.replaceChildren(...departments.map((d) => h("option", { value: d, selected: d === chosen ? "" : null }, d)));
    const mine = issues.filter((i) => i.department === select.value);
    if (where) mine.sort((a, b) => (a.lat == null ? Infinity : metres(where, a)) - (b.lat == null ? Infinity : metres(where, b)));
    document.querySelector("#terminal .where").textContent =
      where ? "最近的在前 Nearest first" : "最新的在前 Newest first (no position)";
    document.querySelector("#terminal .cards").replaceChildren(...mine.map((i) => terminalCard(i, where)));
    showError("terminal", null);
  } catch (e) { showError("terminal", e); }
}

function setUpTerminal() {
  const on = location.hash === "#terminal";
  document.body.classList.toggle("terminal", on);
  document.getElementById("terminal").hidden = !on;
  if (!on) return false;
  document.getElementById("terminal-department").addEventListener("change", (ev) => {
    localStorage.setItem("shaobing-department", ev.target.value);
    loadTerminal();
  });
  loadTerminal();
  setInterval(loadTerminal, 30000);
  return true;
}

// ---- precision -------------------------------------------------------------------------------

async function pollPrecision() {
  try {
    const { items } = await api("/api/v1/precision");
    const judged = items.filter((x) => x.confirmed + x.dismissed > 0);
    document.querySelector("#precision tbody").replaceChildren(...judged.map((x) =>
      h("tr", { class: "precision-row", "data-source": x.source, "data-category": x.category },
        h("td", {}, x.source), h("td", {}, `${categoryLabel(x.category)} (${x.category})`),
        h("td", { class: "num" }, x.confirmed), h("td", { class: "num" }, x.dismissed),
        h("td", { class: "num precision" }, x.precision === null ? "—" : `${Math.round(100 * x.precision)} %`))));
    showError("precision", null);
  } catch (e) { showError("precision", e); }
}

// ---- deadlines kept ----------------------------------------------------------------------------

function share(onTime, late, rate) {
  return rate === null ? "—" : `${onTime}/${onTime + late} (${Math.round(100 * rate)} %)`;
}

async function pollOnTime() {
  try {
    const { items } = await api("/api/v1/on-time");
    document.querySelector("#on-time tbody").replaceChildren(...items.map((x) =>
      h("tr", { class: "on-time-row", "data-department": x.department },
        h("td", {}, x.department),
        h("td", { class: "num response" }, share(x.responses_on_time, x.responses_late, x.response_rate)),
        h("td", { class: "num resolution" }, share(x.resolutions_on_time, x.resolutions_late, x.resolution_rate)),
        h("td", { class: "num overdue" }, x.overdue))));
    showError("on-time", null);
  } catch (e) { showError("on-time", e); }
}

// ---- masks offered from repeated dismissals ------------------------------------------------------

let maskSuggestions = [];

function maskSnippet(m) {
  const points = m.polygon.map(([x, y]) => `[${x}, ${y}]`).join(", ");
  return `[[cameras.zones]]   # under camera "${m.camera}"\nid = "dismissed-${m.cell}"\nkind = "mask"\npolygon = [${points}]`;
}

/** Outlines each camera's suggested masks over its live frame. */
function drawMasks() {
  for (const [id, e] of cameraCards) {
    const svg = e.card.querySelector("svg.masks");
    svg.replaceChildren(...maskSuggestions.filter((m) => m.camera === id).map((m) =>
      h("polygon", { class: "suggested-mask", "data-cell": m.cell, points: m.polygon.map((p) => p.join(",")).join(" ") },
        h("title", {}, `dismissed ${m.dismissals} times: offered as a mask`))));
  }
}

async function pollMasks() {
  try {
    const { items } = await api("/api/v1/mask-suggestions");
    maskSuggestions = items;
    drawMasks();
    document.querySelector("#masks tbody").replaceChildren(...items.map((m) =>
      h("tr", { class: "mask-row", "data-camera": m.camera, "data-cell": m.cell },
        h("td", {}, m.camera), h("td", {}, m.categories.map(categoryLabel).join(", ")),
        h("td", { class: "num dismissals" }, m.dismissals), h("td", {}, fmtTime(m.last_dismissed_ms)),
        h("td", {}, h("pre", { class: "snippet" }, maskSnippet(m))))));
    document.querySelector("#masks .empty").hidden = items.length > 0;
    showError("masks", null);
  } catch (e) { showError("masks", e); }
}

// ---- evidence on disk ------------------------------------------------------------------------

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

async function pollEvidence() {
  try {
    const u = await api("/api/v1/evidence");
    const share = u.max_bytes ? ` (${((100 * u.total_bytes) / u.max_bytes).toFixed(1)} % of ${fmtBytes(u.max_bytes)})` : "";
    document.querySelector("#evidence .total").textContent = `总计 Total ${fmtBytes(u.total_bytes)}${share}`;
    document.querySelector("#evidence tbody").replaceChildren(...u.categories.map((c) =>
      h("tr", { class: "evidence-usage", "data-category": c.category },
        h("td", {}, `${categoryLabel(c.category)} (${c.category})`), h("td", {}, fmtBytes(c.bytes)))));
    showError("evidence", null);
  } catch (e) { showError("evidence", e); }
}

// ---- start ---------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  setUpSignIn();
  document.addEventListener("click", () => { if (audio && audio.state === "suspended") audio.resume(); });
  window.addEventListener("hashchange", () => {
    if ((location.hash === "#terminal") !== document.body.classList.contains("terminal")) location.reload();
  });
  if (setUpTerminal()) return;
  pollSuppressions();
  setInterval(pollSuppressions, 10000);
  document.getElementById("load-more").addEventListener("click", () => nextCursor && loadIssues(nextCursor));
  setUpFilters();
  pollCameras();
  setInterval(pollCameras, 2000);
  pollSensors();
  setInterval(pollSensors, 10000);
  pollEvidence();
  setInterval(pollEvidence, 60000);
  pollPrecision();
  setInterval(pollPrecision, 30000);
  pollOnTime();
  setInterval(pollOnTime, 15000);
  pollMasks();
  setInterval(pollMasks, 30000);
  loadIssues(null);
  streamEvents(true);
});
