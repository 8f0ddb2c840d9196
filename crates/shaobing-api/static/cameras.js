// The cameras view: a card per camera with its live frame, and one camera enlarged with its
// zones and a legend.
"use strict";

// ---- cameras -------------------------------------------------------------------------------

const cameraCards = new Map(); // id -> {card, img, cam, prev: {t, frames}, visible, loading}
let cameraList = []; // the cameras as last polled, for the map and the enlarged view

// Only cards on screen fetch their frame: with 64 cameras the page must not ask the box to draw
// 32 frames a second that nobody sees.
const onScreen = "IntersectionObserver" in window
  ? new IntersectionObserver((entries) => {
    for (const en of entries) {
      const entry = cameraCards.get(en.target.dataset.id);
      if (entry) entry.visible = en.isIntersecting;
      if (entry && en.isIntersecting) refreshFrame(en.target.dataset.id, entry);
    }
  })
  : null;

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
    entry = { card, img, prev: null, loading: false, visible: !onScreen };
    cameraCards.set(cam.id, entry);
    if (onScreen) onScreen.observe(card);
    card.querySelector(".frame-box").addEventListener("click", () => openCamera(cam.id));
    card.querySelector("h3").addEventListener("click", () => openCamera(cam.id));
    drawMasks();
  }
  entry.cam = cam;
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
  const zones = (cam.zones || []).map((z) => `${z.id} (${label(ZONE_KINDS, z.kind)})`).join(", ") || "none";
  card.querySelector(".meta").textContent =
    `models: ${(cam.models || []).join(", ") || "none"} · zones: ${zones} · last frame: ${fmtTime(cam.last_frame_at)}`;
}

function frameUrl(id, all) {
  return `/api/v1/cameras/${encodeURIComponent(id)}/frame.jpg?t=${Date.now()}${all ? "&all=1" : ""}`;
}

function refreshFrame(id, entry) {
  if (entry.loading || !entry.visible) return;
  entry.loading = true;
  const url = frameUrl(id, false);
  entry.img.onload = () => entry.card.classList.remove("missing");
  loadImage(entry.img, url, () => entry.card.classList.add("missing"))
    .finally(() => { entry.loading = false; });
}

async function pollCameras() {
  try {
    const { items } = await api("/api/v1/cameras");
    cameraList = items;
    const t = Date.now();
    const seen = new Set();
    for (const cam of items) { renderCamera(cam, t); seen.add(cam.id); }
    for (const [id, e] of cameraCards) {
      if (!seen.has(id)) { e.card.remove(); cameraCards.delete(id); }
    }
    showError("cameras", null);
  } catch (e) { showError("cameras", e); }
  for (const [id, e] of cameraCards) refreshFrame(id, e);
  if (viewed) renderCameraView();
}

// ---- one camera enlarged ---------------------------------------------------------------------

let viewed = null; // id of the camera enlarged, while its dialog is open
let viewTimer = null;

function openCamera(id) {
  const dlg = document.getElementById("camera-view");
  viewed = id;
  dlg.querySelector("input[name=all]").checked = false;
  renderCameraView();
  refreshCameraView();
  if (!dlg.open) dlg.showModal();
  clearInterval(viewTimer);
  viewTimer = setInterval(refreshCameraView, 1000);
}

function setUpCameraView() {
  const dlg = document.getElementById("camera-view");
  dlg.addEventListener("close", () => { viewed = null; clearInterval(viewTimer); });
  dlg.querySelector("input[name=all]").addEventListener("change", refreshCameraView);
}

let viewLoading = false;

function refreshCameraView() {
  const dlg = document.getElementById("camera-view");
  if (!viewed || viewLoading) return;
  viewLoading = true;
  const img = dlg.querySelector("img.frame");
  const all = dlg.querySelector("input[name=all]").checked;
  img.dataset.all = all ? "yes" : "no";
  loadImage(img, frameUrl(viewed, all), () => img.removeAttribute("src")).finally(() => { viewLoading = false; });
}

/** The enlarged camera's state, its zones by name and kind, and what the colours mean. */
function renderCameraView() {
  const dlg = document.getElementById("camera-view");
  const cam = cameraList.find((c) => c.id === viewed);
  if (!cam) return;
  const why = cam.up || !cam.down_reason ? "" : ` · ${label(DOWN_REASONS, cam.down_reason)}`;
  dlg.querySelector("h2").textContent = `${cam.id} · ${label(CAMERA_STATES, cam.state)}${why}`;
  dlg.querySelector("h2").dataset.id = cam.id;
  dlg.querySelector(".where").textContent = place({ source: cam.id, ...cam.place });
  const followed = (cam.followed || []).map((f) => h("li", { class: "followed", "data-kind": f.kind },
    h("span", { class: "swatch followed" }), `${label(KINDS, f.kind)} ≥ ${Math.round(100 * f.min_score)} % · `,
    f.categories.map(categoryLabel).join(", ")));
  dlg.querySelector(".legend").replaceChildren(
    h("li", {}, h("span", { class: "swatch zone" }), "黄色: 区域及名称 yellow: zones, named"),
    ...(followed.length ? followed : [h("li", {}, "此摄像头无规则关注的目标 No rule follows objects here")]),
    h("li", {}, h("span", { class: "swatch other" }), "灰色: 其他检测（勾选“显示全部”） grey: everything else, with “show all”"));
  dlg.querySelector(".zones tbody").replaceChildren(...(cam.zones || []).map((z) =>
    h("tr", { class: "zone-row", "data-zone": z.id }, h("td", {}, z.id), h("td", {}, label(ZONE_KINDS, z.kind)))));
}


function drawMasks() {
  for (const [id, e] of cameraCards) {
    const svg = e.card.querySelector("svg.masks");
    svg.replaceChildren(...maskSuggestions.filter((m) => m.camera === id).map((m) =>
      h("polygon", { class: "suggested-mask", "data-cell": m.cell, points: m.polygon.map((p) => p.join(",")).join(" ") },
        h("title", {}, `dismissed ${m.dismissals} times: offered as a mask`))));
  }
}

