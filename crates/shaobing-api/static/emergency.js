// The emergency banner: an open emergency nobody has acknowledged holds it, with a tone.
"use strict";

// ---- emergencies: a banner and a sound until someone acknowledges -----------------------------

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

