// shaobing console: what every view shares (labels, the element builder, the API, sign-in,
// times, images). One script per view follows it; all are plain ES2020 classic scripts sharing
// one global scope, loaded in order. All data is inserted as text, never as markup.
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
const KINDS = {
  person: "行人 person", vehicle: "机动车 vehicle", stall: "摊位 stall", stall_proxy: "摊位物件 umbrella, table, chair",
  tricycle: "三轮车 tricycle", cycle: "两轮车 bicycle, motorbike", cargo: "货物 cargo", flame: "明火 flame", smoke: "烟雾 smoke",
};
const ZONE_KINDS = {
  no_parking: "禁止停车 no parking", no_vending: "禁止占道经营 no vending", no_tricycle: "禁止三轮车 no tricycles",
  no_cycle_parking: "禁停非机动车 no cycle parking", crowd_watch: "人群监测 crowd watch", no_clutter: "禁止堆物 nothing left",
  mask: "屏蔽区 mask",
};
/** A colour per category, the same on the map, its legend and the list. */
const CATEGORY_COLOURS = {
  illegal_parking: "#1f77b4", street_vending: "#ff7f0e", unlicensed_tricycle: "#9467bd", non_motor_parking: "#17becf",
  street_clutter: "#8c564b", crowd_gathering: "#e377c2", fire_smoke: "#d62728", air_pollution: "#7f7f7f",
  parking_saturated: "#2ca02c", congestion: "#bcbd22", device_maintenance: "#444444",
};
const MISSED = { response: "响应超时 response late", resolution: "办结超时 resolution late" };
/** The box's zone (daemon.utc_offset, Beijing time by default), as the server wrote it into
 * the page; the page names it beside its times. */
const ZONE_OFFSET_MIN = Number(document.documentElement.dataset.utcOffset) || 0;
const ZONE = document.documentElement.dataset.zoneName || "UTC";

/** A code as its Chinese name with the English beside it, the code itself when unknown. */
function label(names, code) {
  return (code && names[code]) || code || "—";
}

// h("td", {class: "x"}, "text", node) -> element; strings become text nodes, never markup.
const SVG_TAGS = new Set(["svg", "polygon", "polyline", "title", "text", "line", "g"]);

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


const OPEN = ["candidate", "confirmed", "dispatched"];

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

/** A time in the box's zone, whatever zone the browser is in. */
function fmtTime(s) {
  if (!s) return "—";
  const d = new Date(s);
  if (isNaN(d)) return s;
  const local = new Date(d.getTime() + ZONE_OFFSET_MIN * 60 * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${local.getUTCFullYear()}-${p(local.getUTCMonth() + 1)}-${p(local.getUTCDate())} ` +
    `${p(local.getUTCHours())}:${p(local.getUTCMinutes())}:${p(local.getUTCSeconds())}`;
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


// ---- readings ------------------------------------------------------------------------------

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


function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

