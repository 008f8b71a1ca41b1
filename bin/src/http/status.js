// The status page's only script. Every value from the server is written
// with textContent, never as markup: titles, errors and whole documents
// come from web pages and the database. Links point at this page (a
// domain's record) or, for a site's own profiles, only at http(s) URLs.
"use strict";

const byId = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function setText(id, value) {
  byId(id).textContent = value === null || value === undefined ? "–" : String(value);
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}

function time(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, "") : "–";
}

// A link to a domain's record on this page.
function domainLink(name) {
  const link = document.createElement("a");
  link.href = "#domain=" + encodeURIComponent(name);
  link.textContent = name;
  return link;
}

// A link to a URL a page gave, only when it is http(s); otherwise its text.
function externalLink(url) {
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch (error) {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
    return document.createTextNode(String(url));
  }
  const link = document.createElement("a");
  link.href = parsed.href;
  link.rel = "noopener noreferrer";
  link.referrerPolicy = "no-referrer";
  link.textContent = String(url);
  return link;
}

// Replaces the rows of a table's body with one row per item; `cells` gives
// each row's cells as [class, value] where value is text or a node. An
// empty list shows one row saying "none".
function fillTable(id, items, cells) {
  const table = byId(id);
  const body = table.querySelector("tbody");
  if (items.length === 0) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.className = "empty";
    cell.colSpan = table.querySelectorAll("thead th").length;
    cell.textContent = "none";
    row.appendChild(cell);
    body.replaceChildren(row);
    return;
  }
  const rows = items.map((item) => {
    const row = document.createElement("tr");
    for (const [className, value] of cells(item)) {
      const cell = document.createElement("td");
      if (className) cell.className = className;
      if (value instanceof Node) cell.appendChild(value);
      else cell.textContent = value === null || value === undefined ? "" : String(value);
      row.appendChild(cell);
    }
    return row;
  });
  body.replaceChildren(...rows);
}

function showWarning(id, text) {
  const element = byId(id);
  element.hidden = !text;
  element.textContent = text || "";
}

// ---- the chart ------------------------------------------------------

const CHART = { width: 960, height: 220, top: 10 };
let chartWindow = 60;
let lastData = null;

function svg(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

// One group of stacked bars per minute with data, and the queue's depth as
// a line over the minutes this worker sampled it.
function drawChart(perMinute, queue) {
  const chart = byId("throughput-chart");
  const minutes = perMinute.filter((m) => m.minutes_ago < chartWindow);
  const samples = queue.filter((q) => q.minutes_ago < chartWindow);
  const plot = CHART.height - CHART.top;
  const step = CHART.width / chartWindow;
  const x = (minutesAgo) => CHART.width - (minutesAgo + 1) * step;
  const peak = Math.max(1, ...minutes.map((m) => m.completed + m.failed + m.retried));
  const queuePeak = Math.max(1, ...samples.map((q) => q.due));
  const elements = [svg("line", { class: "grid", x1: 0, x2: CHART.width, y1: CHART.top, y2: CHART.top })];
  for (const minute of minutes) {
    const group = svg("g", { class: "minute", "data-minutes-ago": minute.minutes_ago });
    const title = document.createElementNS(SVG, "title");
    title.textContent = minute.minutes_ago + " min ago: " + minute.completed + " completed, " +
      minute.failed + " failed, " + minute.retried + " put back for a retry";
    group.appendChild(title);
    let base = CHART.height;
    for (const series of ["completed", "failed", "retried"]) {
      const height = (minute[series] / peak) * plot;
      if (height <= 0) continue;
      base -= height;
      group.appendChild(svg("rect", {
        class: series, x: x(minute.minutes_ago), y: base, width: Math.max(step * 0.8, 0.5), height: height,
      }));
    }
    elements.push(group);
  }
  if (samples.length > 0) {
    const points = samples
      .map((q) => (x(q.minutes_ago) + step / 2).toFixed(1) + "," +
        (CHART.height - (q.due / queuePeak) * plot).toFixed(1))
      .join(" ");
    elements.push(svg("polyline", { class: "queue", points: points }));
  }
  chart.replaceChildren(...elements);
  setText("chart-peak", minutes.length ? peak : 0);
  setText("chart-queue-peak", samples.length ? queuePeak : 0);
}

function chooseWindow(minutes) {
  chartWindow = minutes;
  byId("window-hour").setAttribute("aria-pressed", String(minutes === 60));
  byId("window-day").setAttribute("aria-pressed", String(minutes !== 60));
  if (lastData) drawChart(lastData.throughput, lastData.queue);
}

// ---- errors: a kind and a page --------------------------------------

const errorView = { kind: "", page: 1 };

function fillErrors(errors) {
  fillTable("recent-errors", errors, (error) => [
    ["time", time(error.at)],
    ["domain", domainLink(error.domain)],
    ["", error.error],
  ]);
}

function showErrorPage(page, hasMore) {
  setText("errors-page", "page " + page);
  byId("errors-newer").disabled = page <= 1;
  byId("errors-older").disabled = !hasMore;
}

// The first page of every kind comes with the snapshot; other pages and
// kinds are read when asked for.
async function refreshErrors(report) {
  if (errorView.kind === "" && errorView.page === 1) {
    fillErrors(report.recent_errors);
    showErrorPage(1, report.error > report.recent_errors.length);
    return;
  }
  const query = new URLSearchParams({ kind: errorView.kind, page: String(errorView.page) });
  const response = await fetch("/api/errors?" + query.toString(), { cache: "no-store" });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || "HTTP " + response.status);
  fillErrors(answer.errors);
  showErrorPage(answer.page, answer.has_more);
}

function fillKinds(kinds) {
  const select = byId("error-kind");
  const options = [new Option("all kinds", "")];
  for (const kind of kinds) options.push(new Option(kind.kind + " (" + kind.count + ")", kind.kind));
  if (errorView.kind && !kinds.some((kind) => kind.kind === errorView.kind)) {
    options.push(new Option(errorView.kind, errorView.kind));
  }
  select.replaceChildren(...options);
  select.value = errorView.kind;
}

// ---- one domain's record ---------------------------------------------

function addField(list, label, value) {
  if (value === null || value === undefined || value === "" ||
      (Array.isArray(value) && value.length === 0)) return;
  const term = document.createElement("dt");
  term.textContent = label;
  const description = document.createElement("dd");
  if (value instanceof Node) description.appendChild(value);
  else description.textContent = String(value);
  list.append(term, description);
}

function bulletList(items) {
  if (items.length === 0) return null;
  const list = document.createElement("ul");
  for (const item of items) {
    const entry = document.createElement("li");
    if (item instanceof Node) entry.appendChild(item);
    else entry.textContent = String(item);
    list.appendChild(entry);
  }
  return list;
}

// Any JSON value as lines of text: "key: value" for an object's fields.
function describeValue(value) {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object") return String(value);
  if (Array.isArray(value)) return bulletList(value.map((item) => describeValue(item) || ""));
  const lines = Object.entries(value)
    .filter(([, field]) => field !== null && field !== "" && !(Array.isArray(field) && field.length === 0))
    .map(([key, field]) => key + ": " + (typeof field === "object" ? JSON.stringify(field) : String(field)));
  return bulletList(lines);
}

function technologiesByCategory(tech) {
  const categories = new Map();
  for (const item of tech || []) {
    const name = item.version ? item.name + " " + item.version : item.name;
    if (!categories.has(item.category)) categories.set(item.category, []);
    categories.get(item.category).push(name);
  }
  return bulletList([...categories].map(([category, names]) => category + ": " + names.join(", ")));
}

function showDocument(document_) {
  const list = byId("record-document");
  list.replaceChildren();
  byId("record-no-document").hidden = document_ !== null && document_ !== undefined;
  if (!document_ || typeof document_ !== "object") return;
  addField(list, "title", document_.title);
  addField(list, "description", document_.description);
  addField(list, "site name", document_.site_name);
  addField(list, "page kind", document_.site_kind &&
    (document_.site_kind_detail ? document_.site_kind + " (" + document_.site_kind_detail + ")" : document_.site_kind));
  addField(list, "language", document_.language);
  addField(list, "URL", document_.url && externalLink(document_.url));
  // The icon is named, not shown: the page's policy loads images from this
  // worker only, and fetching one from the site would tell it who looks.
  addField(list, "icon", document_.icon_url || document_.favicon_url);
  addField(list, "logo", document_.logo_url);
  addField(list, "e-mails", bulletList(document_.emails || []));
  addField(list, "phones", bulletList(document_.phones || []));
  const profiles = Object.entries(document_.social || {})
    .filter(([, url]) => url)
    .map(([network, url]) => {
      const line = document.createElement("span");
      line.append(network + ": ", externalLink(url));
      return line;
    });
  addField(list, "social profiles", bulletList(profiles));
  addField(list, "company", describeValue(document_.company));
  addField(list, "technologies", technologiesByCategory(document_.tech));
  const wordpress = document_.wordpress;
  if (wordpress && wordpress.detected) {
    addField(list, "WordPress", [wordpress.version, wordpress.theme && "theme " + wordpress.theme]
      .filter(Boolean).join(", ") || "yes");
  }
}

function showRecord(record) {
  const row = byId("record-row");
  row.replaceChildren();
  addField(row, "state", record.status || "(none)");
  addField(row, "attempts", record.attempts);
  addField(row, "lease holder", record.locked_by);
  addField(row, "lease until", record.locked_until && time(record.locked_until) + " UTC");
  addField(row, "next attempt", record.next_attempt_at && time(record.next_attempt_at) + " UTC");
  addField(row, "last error", record.last_error);
  addField(row, "created", record.created_at && time(record.created_at) + " UTC");
  addField(row, "updated", record.updated_at && time(record.updated_at) + " UTC");
  showDocument(record.metadata);
  byId("record-json").textContent = JSON.stringify(record.metadata, null, 2);
  byId("record-raw").hidden = record.metadata === null;
}

async function openRecord(name) {
  const section = byId("record");
  section.hidden = false;
  setText("record-name", name);
  byId("search-name").value = name;
  const query = new URLSearchParams({ name: name });
  try {
    const response = await fetch("/api/domain?" + query.toString(), { cache: "no-store" });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || "HTTP " + response.status);
    showWarning("record-missing", "");
    byId("record-found").hidden = false;
    // The name as stored: the server reads it standardized.
    setText("record-name", answer.domain);
    showRecord(answer);
    section.dataset.loaded = answer.domain;
  } catch (error) {
    byId("record-found").hidden = true;
    showWarning("record-missing", error.message);
    section.dataset.loaded = name;
  }
}

function followHash() {
  const match = /^#domain=(.+)$/.exec(location.hash);
  if (match) {
    openRecord(decodeURIComponent(match[1]));
  } else {
    byId("record").hidden = true;
  }
}

// ---- the whole page ----------------------------------------------------

function render(data) {
  setText("worker", data.worker);
  setText("version", data.version);
  setText("refresh", data.refresh_seconds);
  const badge = byId("readiness");
  badge.textContent = data.ready ? "ready" : "not ready";
  badge.className = "badge " + (data.ready ? "ok" : "bad");
  showWarning("not-ready", data.not_ready_because.join("; "));
  showWarning("database-error", data.database_error ? "database: " + data.database_error : "");

  const now = Date.parse(data.now);
  fillTable("in-flight", data.in_flight, (domain) => [
    ["domain", domainLink(domain.domain)],
    ["time", duration((now - Date.parse(domain.since)) / 1000)],
  ]);
  setText("in-flight-count", data.in_flight.length);

  const snapshot = data.snapshot;
  if (!snapshot) return null;
  const report = snapshot.report;
  setText("snapshot-at", time(snapshot.at));
  for (const state of ["pending", "processing", "completed", "error", "other"]) {
    setText("count-" + state, report[state]);
  }
  setText("waiting-for-retry", report.waiting_for_retry);
  setText("expired-leases", report.expired_leases);
  setText(
    "oldest-pending",
    report.oldest_pending_seconds === null ? "no row due" : duration(report.oldest_pending_seconds),
  );
  const hour = report.last_hour;
  setText("hour-finished", hour.completed + hour.failed);
  setText("hour-completed", hour.completed);
  setText("hour-failed", hour.failed);
  setText("hour-rate", ((hour.completed + hour.failed) / 60).toFixed(1));
  const recent = (report.per_minute || []).filter((m) => m.minutes_ago < 5);
  setText("current-rate", (recent.reduce((sum, m) => sum + m.completed + m.failed, 0) / 5).toFixed(1));
  lastData = { throughput: report.per_minute || [], queue: data.queue };
  drawChart(lastData.throughput, lastData.queue);
  fillTable("error-kinds", report.error_kinds, (kind) => [["", kind.kind], ["number", kind.count]]);
  fillKinds(report.error_kinds);
  fillTable("recent-completed", report.recent_completed, (row) => [
    ["time", time(row.at)],
    ["domain", domainLink(row.domain)],
    ["", row.title],
  ]);
  return report;
}

let refreshEvery = 5000;
let lastReport = null;

async function refresh() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    refreshEvery = Math.max(1000, data.refresh_seconds * 1000);
    lastReport = render(data) || lastReport;
    if (lastReport) await refreshErrors(lastReport);
    document.body.dataset.loaded = "true";
  } catch (error) {
    showWarning("not-ready", "the worker did not answer: " + error.message);
    byId("readiness").textContent = "unreachable";
    byId("readiness").className = "badge bad";
  }
  setTimeout(refresh, refreshEvery);
}

async function changeErrors(kind, page) {
  errorView.kind = kind;
  errorView.page = page;
  const table = byId("recent-errors");
  delete table.dataset.loaded;
  try {
    if (lastReport) await refreshErrors(lastReport);
  } catch (error) {
    showWarning("not-ready", "the errors could not be read: " + error.message);
  }
  table.dataset.loaded = kind + "/" + page;
}

byId("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = byId("search-name").value.trim();
  if (name) location.hash = "domain=" + encodeURIComponent(name);
});
byId("record-close").addEventListener("click", (event) => {
  event.preventDefault();
  history.replaceState(null, "", location.pathname);
  byId("record").hidden = true;
});
byId("error-kind").addEventListener("change", (event) => changeErrors(event.target.value, 1));
byId("errors-newer").addEventListener("click", () => changeErrors(errorView.kind, errorView.page - 1));
byId("errors-older").addEventListener("click", () => changeErrors(errorView.kind, errorView.page + 1));
byId("window-hour").addEventListener("click", () => chooseWindow(60));
byId("window-day").addEventListener("click", () => chooseWindow(1440));
window.addEventListener("hashchange", followHash);

// Opened with a search, a filter or a window in the address, for links
// people share: ?search=…, ?kind=…&page=…, ?window=day.
const opened = new URLSearchParams(location.search);
errorView.kind = opened.get("kind") || "";
errorView.page = Math.max(1, parseInt(opened.get("page") || "1", 10) || 1);
if (opened.get("window") === "day") chooseWindow(1440);

followHash();
if (opened.get("search")) {
  byId("search-name").value = opened.get("search");
  byId("search").requestSubmit();
}
refresh();
