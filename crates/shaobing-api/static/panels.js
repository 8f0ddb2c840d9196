// The smaller panels: dismissed places, precision, deadlines kept, masks offered, evidence on disk.
"use strict";

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

