// The meshcached dashboard: reads this node's admin port only (the JSON
// API, /history and the /events stream). Text from the server is always
// put in with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "meshcached.token";
const HOUR = 3600;
const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
function authHeaders() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

async function api(path, opts = {}) {
  const r = await fetch(path, { cache: "no-store", ...opts,
    headers: { ...authHeaders(), ...(opts.headers || {}) } });
  return r;
}
async function apiJson(path) {
  const r = await api(path);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { status: r.status, body };
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function fmtNum(v, digits = 0) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits });
}
function fmtBytes(v) {
  if (v === null || v === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return v.toFixed(i ? 1 : 0) + " " + u[i];
}
function fmtUs(v) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  return v < 1000 ? v.toFixed(0) + " µs" : (v / 1000).toFixed(2) + " ms";
}
function keyText(k) {
  if (k.key !== undefined) return k.key;
  try { return decodeURIComponent(k.key_pct); } catch (e) { return k.key_pct; }
}

// ---- the token ----

function showTokenState() {
  $("token-state").textContent = token() ? "token set (this tab)" : "no token: keys and console need it";
}
$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const v = $("token-input").value.trim();
  if (v) sessionStorage.setItem(TOKEN_KEY, v);
  $("token-input").value = "";
  showTokenState();
  restartEvents();
});
$("token-clear").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenState();
  restartEvents();
});

// ---- cluster ----

async function refreshCluster() {
  try {
    const st = await apiJson("/cluster/status");
    if (st.status === 200) {
      const s = st.body;
      $("node-id").textContent = s.self;
      const tb = $("members").tBodies[0];
      tb.replaceChildren();
      let up = 0;
      for (const m of s.members) {
        const tr = el("tr");
        tr.dataset.id = m.id;
        tr.dataset.state = m.state;
        if (m.state === "alive") up++;
        tr.append(el("td", m.id + (m.self ? " (this node)" : "")));
        const td = el("td");
        td.append(el("span", m.state, "badge " + m.state));
        tr.append(td, el("td", m.address),
          el("td", m.in_ring ? (100 * m.ring_share).toFixed(1) + " %" : "–"),
          el("td", m.last_heard_ago_ms === null || m.last_heard_ago_ms === undefined ? "–"
            : (m.last_heard_ago_ms / 1000).toFixed(1) + " s ago"));
        tb.append(tr);
      }
      $("cluster-summary").textContent = `${up} of ${s.members.length} alive · N=${s.replicas} W=${s.write_quorum} R=${s.read_quorum} · ring epoch ${s.ring_epoch}`;
    }
    const rd = await apiJson("/readyz");
    const b = $("ready");
    b.textContent = rd.status === 200 ? "ready" : "not ready";
    b.className = "badge " + (rd.status === 200 ? "ready" : "unready");
  } catch (e) {
    $("ready").textContent = "unreachable";
    $("ready").className = "badge unready";
  }
}

async function refreshDistribution() {
  try {
    const d = await apiJson("/cluster/distribution");
    if (d.status !== 200) return;
    const tb = $("distribution").tBodies[0];
    tb.replaceChildren();
    const max = Math.max(...d.body.nodes.map((n) => n.ring_share), 0.0001);
    for (const n of d.body.nodes) {
      const tr = el("tr");
      tr.dataset.id = n.id;
      const bar = el("div", null, "bar");
      bar.style.width = (100 * n.ring_share / max).toFixed(1) + "%";
      const cell = el("td", null, "barcell");
      cell.append(bar);
      tr.append(el("td", n.id), el("td", (100 * n.ring_share).toFixed(1) + " %"), cell,
        el("td", n.answered ? fmtNum(n.items) : "?"), el("td", n.answered ? fmtBytes(n.bytes) : "?"));
      tb.append(tr);
    }
  } catch (e) { /* the next refresh tries again */ }
}

// ---- history and charts ----

const hist = { t: [], ops: [], hit: [], p50: [], p99: [], mem: [] };
let lastT = 0;
const charts = {};

function makeChart(id, title, series, yfmt) {
  const box = $(id);
  const opts = {
    title, width: Math.max(box.clientWidth, 300), height: 200,
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5,
      value: (u, v) => yfmt(v) }))],
    axes: [{}, { values: (u, vals) => vals.map(yfmt), size: 86 }],
    scales: { x: { time: true } },
  };
  return new uPlot(opts, [[], ...series.map(() => [])], box);
}

function initCharts() {
  if (typeof uPlot === "undefined") return;
  charts.ops = makeChart("chart-ops", "ops/s", [{ label: "ops/s", color: "#2b6cb0" }], (v) => fmtNum(v));
  charts.hit = makeChart("chart-hit", "hit ratio", [{ label: "hit ratio", color: "#1f8a4c" }],
    (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"));
  charts.lat = makeChart("chart-lat", "latency", [{ label: "p50", color: "#2b6cb0" },
    { label: "p99", color: "#c53030" }], fmtUs);
  charts.mem = makeChart("chart-mem", "memory", [{ label: "memory", color: "#805ad5" }], fmtBytes);
  window.addEventListener("resize", () => {
    for (const [k, c] of Object.entries(charts)) c.setSize({ width: Math.max($("chart-" + k).clientWidth, 300), height: 200 });
  });
}

function drawCharts() {
  if (!charts.ops) return;
  charts.ops.setData([hist.t, hist.ops]);
  charts.hit.setData([hist.t, hist.hit]);
  charts.lat.setData([hist.t, hist.p50, hist.p99]);
  charts.mem.setData([hist.t, hist.mem]);
}

async function refreshHistory() {
  try {
    const h = await apiJson("/history" + (lastT ? "?since=" + lastT : ""));
    if (h.status !== 200) return;
    const b = h.body;
    const n = b.t.length;
    for (let i = 0; i < n; i++) {
      hist.t.push(b.t[i]); hist.ops.push(b.ops_per_sec[i]); hist.hit.push(b.hit_ratio[i]);
      hist.p50.push(b.p50_us[i]); hist.p99.push(b.p99_us[i]); hist.mem.push(b.memory_bytes[i]);
    }
    if (n > 0) {
      lastT = b.t[n - 1];
      const drop = Math.max(0, hist.t.length - HOUR);
      for (const k of Object.keys(hist)) hist[k].splice(0, drop);
      $("stat-ops").textContent = fmtNum(b.ops_per_sec[n - 1]);
      const hr = b.hit_ratio[n - 1];
      $("stat-hit").textContent = hr === null ? "–" : (100 * hr).toFixed(1) + " %";
      $("stat-p50").textContent = fmtUs(b.p50_us[n - 1]);
      $("stat-p99").textContent = fmtUs(b.p99_us[n - 1]);
      $("stat-mem").textContent = fmtBytes(b.memory_bytes[n - 1]);
      if (b.memory_limit_bytes) $("stat-mem-label").textContent = "memory (of " + fmtBytes(b.memory_limit_bytes) + ")";
      $("stat-items").textContent = fmtNum(b.items[n - 1]);
      drawCharts();
    }
  } catch (e) { /* the next refresh tries again */ }
}

// ---- events (SSE, read with fetch so that the token can go in a header) ----

let eventsAbort = null;
const MAX_EVENTS = 200;

function addEvent(type, data) {
  const ul = $("events");
  const li = el("li");
  li.dataset.type = type;
  const when = data.ts ? new Date(data.ts * 1000) : new Date();
  li.append(el("span", when.toLocaleTimeString() + " ", "muted"), el("span", type, "type"));
  const parts = [];
  for (const [k, v] of Object.entries(data)) {
    if (k === "ts" || k === "gid" || k === "type") continue;
    let s = String(v);
    if (k === "key") { try { s = decodeURIComponent(s); } catch (e) { /* as sent */ } }
    parts.push(k + "=" + s);
  }
  li.append(el("span", " " + parts.join(" ")));
  ul.prepend(li);
  while (ul.children.length > MAX_EVENTS) ul.lastChild.remove();
}

async function runEvents(signal) {
  $("events-state").textContent = "connecting…";
  const r = await fetch("/events", { headers: { ...authHeaders(), Accept: "text/event-stream" }, signal });
  if (r.status !== 200 || !r.body) throw new Error("HTTP " + r.status);
  $("events-state").textContent = "live";
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) type = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (!data) continue;
      try { addEvent(type, JSON.parse(data)); } catch (e) { /* not JSON: skip */ }
    }
  }
}

function restartEvents() {
  if (eventsAbort) eventsAbort.abort();
  const ctl = new AbortController();
  eventsAbort = ctl;
  (async () => {
    while (!ctl.signal.aborted) {
      try { await runEvents(ctl.signal); } catch (e) { /* retried below */ }
      if (ctl.signal.aborted) break;
      $("events-state").textContent = "reconnecting…";
      await new Promise((res) => setTimeout(res, 2000));
    }
  })();
}

// ---- key browser ----

let keysCursor = null;

const KEYS_PAGE = 50;
const KEYS_MAX_PAGES = 64; // /keys pages stop at 256 shards: a page may be short, or empty

async function listKeys(cursor) {
  const tb = $("keys-table").tBodies[0];
  const prefix = $("keys-prefix").value;
  if (!cursor) tb.replaceChildren();
  let got = 0;
  for (let page = 0; page < KEYS_MAX_PAGES && got < KEYS_PAGE; page++) {
    const p = new URLSearchParams({ limit: String(KEYS_PAGE - got) });
    if (prefix) p.set("prefix", prefix);
    if (cursor) p.set("cursor", cursor);
    const r = await apiJson("/keys?" + p.toString());
    if (r.status !== 200) {
      $("keys-msg").textContent = (r.body && r.body.error) || "HTTP " + r.status;
      return;
    }
    for (const k of r.body.keys) {
      const name = keyText(k);
      const tr = el("tr");
      tr.dataset.key = name;
      const td = el("td", name, "key");
      td.title = name;
      tr.append(td, el("td", fmtBytes(k.size)), el("td", k.ttl < 0 ? "∞" : k.ttl + " s"),
        el("td", k.owners.join(", ")));
      tr.addEventListener("click", () => previewKey(name));
      tb.append(tr);
      got++;
    }
    cursor = r.body.next_cursor;
    if (!cursor) break;
  }
  keysCursor = cursor;
  $("keys-next").disabled = !keysCursor;
  $("keys-msg").textContent = `${tb.rows.length} keys shown` + (keysCursor ? " (more on the next page)" : "");
}
$("keys-form").addEventListener("submit", (ev) => { ev.preventDefault(); listKeys(null); });
$("keys-next").addEventListener("click", () => { if (keysCursor) listKeys(keysCursor); });

const PREVIEW_MAX = 4096;

function printable(bytes) {
  const txt = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const bad = (txt.match(/[\u0000-\u0008\u000e-\u001f\ufffd]/g) || []).length;
  if (bad <= bytes.length / 20) return txt;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

async function previewKey(name) {
  const r = await api("/cache/" + encodeURIComponent(name));
  $("preview").hidden = false;
  $("preview-key").textContent = name;
  if (r.status !== 200) {
    $("preview-meta").textContent = r.status === 404 ? "not found (expired or deleted)" : "HTTP " + r.status;
    $("preview-value").textContent = "";
    return;
  }
  const bytes = new Uint8Array(await r.arrayBuffer());
  const ttl = r.headers.get("X-Meshcached-TTL");
  $("preview-meta").textContent = `${bytes.length} bytes · flags ${r.headers.get("X-Meshcached-Flags")} · ttl ${ttl === "-1" ? "none" : ttl + " s"} · version ${r.headers.get("ETag")}`;
  $("preview-value").textContent = printable(bytes.slice(0, PREVIEW_MAX)) +
    (bytes.length > PREVIEW_MAX ? `\n… (${bytes.length - PREVIEW_MAX} more bytes)` : "");
}

// ---- console ----

async function consoleDo(method) {
  const key = $("console-key").value;
  const out = $("console-out");
  if (!key) { out.textContent = "a key is needed"; return; }
  const url = "/cache/" + encodeURIComponent(key);
  try {
    let r;
    if (method === "PUT") {
      const ttl = parseInt($("console-ttl").value || "0", 10);
      r = await api(url + "?ttl=" + (isFinite(ttl) ? ttl : 0), { method: "PUT", body: $("console-value").value });
    } else {
      r = await api(url, { method });
    }
    const text = await r.text();
    out.textContent = `${method} ${key}: ${r.status} ${r.statusText}\n` + (method === "GET" && r.status === 200
      ? `flags ${r.headers.get("X-Meshcached-Flags")} ttl ${r.headers.get("X-Meshcached-TTL")} version ${r.headers.get("ETag")}\n${text}` : text);
    out.dataset.status = String(r.status);
  } catch (e) {
    out.textContent = `${method} ${key}: ${e}`;
  }
}
$("console-get").addEventListener("click", () => consoleDo("GET"));
$("console-set").addEventListener("click", () => consoleDo("PUT"));
$("console-delete").addEventListener("click", () => consoleDo("DELETE"));

// ---- start ----

showTokenState();
initCharts();
refreshCluster();
refreshDistribution();
refreshHistory();
restartEvents();
setInterval(refreshHistory, 1000);
setInterval(refreshCluster, 2000);
setInterval(refreshDistribution, 5000);
