// The map: the box's cameras, sensors and open issues where they stand, by category and
// priority. Tiles come from the command centre's own tile server (`metrics.map.tiles_url`);
// without one the same points stand on a plain coordinate grid.
"use strict";

let theMap = null;
let mapLayer = null;
let fittedTo = 0; // how many points the view was last fitted to
let userMoved = false; // once the operator pans or zooms, the view is theirs

/** The plain background: a grid with each line's latitude or longitude, drawn per tile. */
function coordinateGrid() {
  const Grid = L.GridLayer.extend({
    createTile(coords) {
      const tile = document.createElement("canvas");
      const size = this.getTileSize();
      tile.width = size.x;
      tile.height = size.y;
      const ctx = tile.getContext("2d");
      ctx.fillStyle = "#f4f6f9";
      ctx.fillRect(0, 0, size.x, size.y);
      ctx.strokeStyle = "#d5dae3";
      ctx.strokeRect(0, 0, size.x, size.y);
      const nw = this._map.unproject(coords.scaleBy(size), coords.z);
      ctx.fillStyle = "#8a93a6";
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillText(`${nw.lat.toFixed(4)}, ${nw.lng.toFixed(4)}`, 4, 13);
      return tile;
    },
  });
  return new Grid({ className: "coordinate-grid" });
}

async function setUpMap() {
  const box = document.getElementById("map-canvas");
  if (!window.L || !box) return;
  let tiles = null;
  try { tiles = (await api("/api/v1/map")).tiles; } catch (e) { showError("map", e); }
  theMap = L.map(box, { zoomControl: true, attributionControl: true, preferCanvas: false }).setView([39.93, 116.45], 15);
  const background = tiles
    ? L.tileLayer(tiles.url, { maxZoom: tiles.max_zoom, attribution: tiles.attribution || "" })
    : coordinateGrid();
  background.addTo(theMap);
  box.dataset.background = tiles ? "tiles" : "grid";
  theMap.attributionControl.setPrefix(tiles ? "Leaflet" : "Leaflet · 无底图 no tiles configured: a coordinate grid");
  // Issues above the camera and sensor icons: an issue filed at its camera is what gets clicked.
  theMap.createPane("issues").style.zIndex = 650;
  for (const ev of ["wheel", "mousedown", "touchstart", "keydown"]) box.addEventListener(ev, () => { userMoved = true; });
  mapLayer = L.layerGroup().addTo(theMap);
  mapLegend().addTo(theMap);
  refreshMap();
  // The cameras and sensors arrive with their own first polls.
  setTimeout(refreshMap, 2500);
  setInterval(refreshMap, 15000);
}

function located(p) {
  return p && Number.isFinite(p.lat) && Number.isFinite(p.lon);
}

/** The key to the map, with only the categories it shows: a short legend hides fewer points. */
function mapLegend() {
  const legend = L.control({ position: "topright" });
  legend.onAdd = () => h("div", { class: "map-legend" });
  return legend;
}

function renderLegend(categories) {
  const box = document.querySelector("#map .map-legend");
  if (!box) return;
  box.replaceChildren(
    h("div", {}, h("span", { class: "map-camera legend-icon" }, "▣"), " 摄像头 camera"),
    h("div", {}, h("span", { class: "map-sensor legend-icon" }, "◆"), " 传感器 sensor"),
    h("div", {}, h("span", { class: "legend-dot emergency" }), " 紧急 emergency"),
    ...[...categories].sort().map((code) => h("div", { class: `legend-category category-${code}` },
      h("span", { class: "legend-dot", style: `background:${CATEGORY_COLOURS[code] || "#444"}` }), ` ${categoryLabel(code)}`)));
}

/** A tooltip as an element: Leaflet would read a string as markup, and these are data. */
function tip(text) {
  return h("span", {}, text);
}

/** Marker options for a camera or a sensor: a glyph in a box (no marker images needed). */
function icon(cls, glyph, title) {
  return { icon: L.divIcon({ className: cls, html: glyph, iconSize: [18, 18], iconAnchor: [9, 9] }), title, keyboard: true };
}

const mapMarkers = new Map(); // "issue:<id>", "camera:<id>", "sensor:<id>" -> its marker

/**
 * Adds the marker under `key`, or updates the one there (`update(marker)`): markers are kept
 * between refreshes, so one under the pointer is not pulled away every 15 s.
 */
function keep(seen, key, create, update) {
  seen.add(key);
  const old = mapMarkers.get(key);
  if (old) { update(old); return; }
  const marker = create();
  marker.addTo(mapLayer);
  mapMarkers.set(key, marker);
}

function issueStyle(i) {
  const emergency = i.priority === "emergency";
  return {
    radius: emergency ? 11 : 7, color: emergency ? "#b91c1c" : "#ffffff", weight: emergency ? 4 : 2,
    fillColor: CATEGORY_COLOURS[i.category] || "#444", fillOpacity: 0.9,
  };
}

async function refreshMap() {
  if (!theMap) return;
  let issues = [];
  try {
    issues = await openIssues();
    showError("map", null);
  } catch (e) { showError("map", e); }
  const points = [];
  const seen = new Set();
  for (const cam of cameraList.filter((c) => located(c.place))) {
    const at = [cam.place.lat, cam.place.lon];
    const text = `${cam.id} · ${label(CAMERA_STATES, cam.state)}`;
    const cls = `map-camera${cam.up ? "" : " down"}`;
    keep(seen, `camera:${cam.id}`,
      () => L.marker(at, icon(cls, "▣", cam.id)).bindTooltip(tip(text)).on("click", () => openCamera(cam.id)),
      (m) => { m.setLatLng(at).setIcon(icon(cls, "▣", cam.id).icon).setTooltipContent(tip(text)); });
    points.push(at);
  }
  for (const s of sensorList.filter((s) => located(s.location))) {
    const at = [s.location.lat, s.location.lon];
    keep(seen, `sensor:${s.id}`,
      () => L.marker(at, icon("map-sensor", "◆", s.id)).bindTooltip(tip(`${s.id} · ${s.kind}`))
        .on("click", () => { showTrend(s.id); location.hash = "#sensors"; }),
      (m) => m.setLatLng(at));
    points.push(at);
  }
  for (const i of issues.filter(located)) {
    const at = [i.lat, i.lon];
    const text = `${categoryLabel(i.category)} · ${label(STATUSES, i.status)} · ${place(i)}`;
    keep(seen, `issue:${i.id}`,
      () => L.circleMarker(at, { ...issueStyle(i), pane: "issues",
        className: `map-issue category-${i.category} priority-${i.priority}` })
        .bindTooltip(tip(text)).on("click", () => showDetail(i.id)),
      (m) => { m.setLatLng(at).setStyle(issueStyle(i)).setTooltipContent(tip(text)); });
    points.push(at);
  }
  for (const [key, m] of mapMarkers) {
    if (!seen.has(key)) { m.remove(); mapMarkers.delete(key); }
  }
  renderLegend(new Set(issues.filter(located).map((i) => i.category)));
  const box = document.getElementById("map-canvas");
  box.dataset.points = String(points.length);
  document.querySelector("#map .empty").hidden = points.length > 0;
  if (points.length && points.length !== fittedTo && !userMoved) {
    // Kept clear of the legend in the top right corner, which would hide the points under it.
    const legend = document.querySelector("#map .map-legend");
    const right = (legend ? legend.offsetWidth : 0) + 24;
    theMap.fitBounds(L.latLngBounds(points), { maxZoom: 17, paddingTopLeft: [40, 40], paddingBottomRight: [right, 24] });
    fittedTo = points.length;
  }
}
