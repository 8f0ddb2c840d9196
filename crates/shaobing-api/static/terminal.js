// The terminal (#terminal): a phone's view for street staff.
"use strict";

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

// The open issues, newest first, asked of the box as such: however many issues it has closed,
// the oldest open one is still found (up to 2,000 open issues, the most a screen can use).
async function openIssues() {
  let items = [], cursor = null;
  for (let page = 0; page < 10; page += 1) {
    const q = new URLSearchParams({ limit: "200", status: OPEN.join(",") });
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

