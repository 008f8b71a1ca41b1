// The status page's only script. Every value from the server is written
// with textContent, never as markup: titles and error messages come from
// web pages and the database.
"use strict";

const byId = (id) => document.getElementById(id);

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

// Replaces the rows of a table's body with one row per item.
function fillTable(id, items, cells) {
  const body = byId(id).querySelector("tbody");
  const rows = items.map((item) => {
    const row = document.createElement("tr");
    for (const value of cells(item)) {
      const cell = document.createElement("td");
      cell.textContent = value === null || value === undefined ? "" : String(value);
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
    domain.domain,
    duration((now - Date.parse(domain.since)) / 1000),
  ]);
  setText("in-flight-count", data.in_flight.length);

  const snapshot = data.snapshot;
  if (!snapshot) return;
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
  fillTable("error-kinds", report.error_kinds, (kind) => [kind.kind, kind.count]);
  fillTable("recent-errors", report.recent_errors, (error) => [time(error.at), error.domain, error.error]);
  fillTable("recent-completed", report.recent_completed, (row) => [time(row.at), row.domain, row.title]);
}

let refreshEvery = 5000;

async function refresh() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    refreshEvery = Math.max(1000, data.refresh_seconds * 1000);
    render(data);
    document.body.dataset.loaded = "true";
  } catch (error) {
    showWarning("not-ready", "the worker did not answer: " + error.message);
    byId("readiness").textContent = "unreachable";
    byId("readiness").className = "badge bad";
  }
  setTimeout(refresh, refreshEvery);
}

refresh();
