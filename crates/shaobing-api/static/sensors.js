// The sensors view: their latest readings and AQI level (HJ 633), and a trend chart per sensor.
"use strict";

// ---- sensors: their latest readings and AQI level, a trend chart per sensor --------------------

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
  const tr = h("tr", { class: `sensor-row${s.id === trendOf ? " selected" : ""}`, "data-id": s.id, tabindex: 0,
    title: "趋势 Show the trend" },
    h("td", {}, s.id), h("td", {}, s.group), h("td", {}, s.kind), h("td", {}, where), h("td", {}, readings), level);
  tr.addEventListener("click", () => showTrend(s.id));
  tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") showTrend(s.id); });
  return tr;
}

// ---- a sensor's trend over the last hours, from the readings store ----------------------------

let trendOf = null; // the sensor whose trend is shown
let sensorList = []; // the sensors as last polled, for the map

function showTrend(id) {
  trendOf = id;
  document.querySelectorAll("#sensors tr.sensor-row").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === id));
  loadTrend();
}

/** One quantity's buckets as a chart: the mean as a line, the lowest and highest as a band. */
function trendChart(sensor, q, from, to) {
  const pts = q.points;
  const W = 600, H = 150, left = 70, pad = 8, bottom = 20;
  const lo = Math.min(...pts.map((p) => p.min)), hi = Math.max(...pts.map((p) => p.max), lo + 1e-9);
  const px = (ms) => left + ((ms - from) / (to - from)) * (W - left - pad);
  const py = (v) => H - bottom - ((v - lo) / (hi - lo)) * (H - bottom - pad);
  const mid = (p) => p.start_ms + q.bucket_ms / 2;
  const band = pts.map((p) => `${px(mid(p)).toFixed(1)},${py(p.max).toFixed(1)}`)
    .concat(pts.slice().reverse().map((p) => `${px(mid(p)).toFixed(1)},${py(p.min).toFixed(1)}`)).join(" ");
  const value = (v) => reading(q.quantity, v, q.unit).replace(label(QUANTITIES, q.quantity), "").trim();
  const svg = h("svg", { class: "trend-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "data-quantity": q.quantity,
    "aria-label": `${sensor} ${q.quantity}` },
    h("polygon", { class: "range", points: band }),
    h("polyline", { class: "mean", points: pts.map((p) => `${px(mid(p)).toFixed(1)},${py(p.mean).toFixed(1)}`).join(" ") }),
    h("text", { x: 2, y: pad + 10, class: "axis" }, value(hi)), h("text", { x: 2, y: H - bottom, class: "axis" }, value(lo)),
    h("text", { x: left, y: H - 4, class: "axis" }, fmtTime(from).slice(5, 16)),
    h("text", { x: W - pad, y: H - 4, class: "axis end" }, fmtTime(to).slice(5, 16)));
  const last = pts[pts.length - 1];
  return h("figure", { class: "trend", "data-quantity": q.quantity }, svg,
    h("figcaption", {}, `${label(QUANTITIES, q.quantity)} · 最近 latest ${value(last.mean)} · ${pts.reduce((n, p) => n + p.count, 0)} 条读数 readings`));
}

async function loadTrend() {
  const box = document.getElementById("sensor-trend");
  if (!trendOf) { box.hidden = true; return; }
  box.hidden = false;
  const hours = document.getElementById("trend-hours").value;
  try {
    const t = await api(`/api/v1/sensors/${encodeURIComponent(trendOf)}/trend?hours=${hours}`);
    box.querySelector("h3").textContent = `${t.sensor} · 最近 ${hours} 小时 last ${hours} h (${ZONE})`;
    box.dataset.sensor = t.sensor;
    const charts = t.quantities.filter((q) => q.points.length).map((q) => trendChart(t.sensor, q, t.from_ms, t.to_ms));
    box.querySelector(".charts").replaceChildren(...(charts.length ? charts : [h("p", { class: "empty" }, "无读数 No readings in this time")]));
    showError("sensors", null);
  } catch (e) { showError("sensors", e); }
}

function setUpTrend() {
  document.getElementById("trend-hours").addEventListener("change", loadTrend);
  setInterval(() => trendOf && loadTrend(), 60000);
}

async function pollSensors() {
  try {
    const { items } = await api("/api/v1/sensors");
    // Redrawn only when something changed: a row under the pointer or the keyboard stays put.
    const drawn = JSON.stringify(items);
    if (drawn !== JSON.stringify(sensorList)) document.querySelector("#sensors tbody").replaceChildren(...items.map(sensorRow));
    sensorList = items;
    showError("sensors", null);
  } catch (e) { showError("sensors", e); }
}

