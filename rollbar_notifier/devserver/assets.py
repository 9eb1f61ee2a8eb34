"""The page's stylesheet and script, served as files so the Content-Security-Policy can
forbid every inline script and style: all text on the page comes from senders.

The script only adds comfort (live updates, status buttons, filters that apply on
change, relative times that stay current); every page reads fully without it.
"""

from __future__ import annotations

STYLE = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
header{background:#1d2430;color:#fff;padding:10px 24px;display:flex;gap:18px;align-items:center}
header a{color:#fff}header .live{margin-left:auto;font-size:12px;color:#9aa4b2}
header .live.on::before{content:"\\25CF  ";color:#3ddc84}
main{padding:16px 24px;max-width:1200px;overflow-wrap:anywhere}
h1{font-size:20px;margin:8px 0;overflow-wrap:anywhere}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;width:100%;background:#fff}
table.kv{table-layout:fixed}table.kv td:first-child{width:28%}
th,td{border-bottom:1px solid #dde1e6;padding:5px 8px;text-align:left;vertical-align:top;
 overflow-wrap:anywhere}
th{background:#eceef2;font-weight:600}a{color:#1558b0}
pre,code{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{background:#fff;border:1px solid #dde1e6;padding:8px;margin:4px 0;white-space:pre-wrap;
 overflow-wrap:anywhere}
td code{white-space:pre-wrap}
.frame{background:#fff;border:1px solid #dde1e6;margin:8px 0;padding:6px 10px}
.frame.innermost{border-color:#c9a227}
.ctx{margin:4px 0;border:0;padding:0}.cur{background:#fff3c4;font-weight:bold}
.omitted{margin:8px 0;padding:6px 10px;border:1px dashed #b8bec8;color:#6b7280;
 text-align:center;font-style:italic}
.critical,.error{color:#b00020}.warning{color:#a35a00}.info,.debug{color:#2d6a2d}
.muted,.hidden-names{color:#6b7280}.exc{font-size:15px;font-weight:bold;overflow-wrap:anywhere}
.more{font-size:12px;white-space:nowrap}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e4e7ec}
.status.active{background:#fde2e1;color:#8a1c14}.status.resolved{background:#dcf3e3;color:#1b5e32}
.status.muted{background:#e4e7ec;color:#4b5563}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0 12px}
.filters input[type=search]{flex:1 1 260px;padding:5px 8px;font:inherit}
.filters select,.filters button,.actions button{padding:4px 8px;font:inherit}
.summary{color:#4b5563;margin:6px 0}
.pager{display:flex;gap:16px;align-items:center;margin:10px 0}
.panel{background:#fff;border:1px solid #dde1e6;padding:8px 12px;margin:8px 0}
.actions{display:inline-flex;gap:6px;margin-left:8px}.error-text{color:#b00020}
details>summary{cursor:pointer;color:#1558b0}
"""

SCRIPT = r"""
"use strict";
(() => {
  const meta = (name) => {
    const tag = document.querySelector(`meta[name="${name}"]`);
    return tag ? tag.content : "";
  };

  const units = [["day", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  const relative = (seconds) => {
    const ago = Math.round(Date.now() / 1000 - seconds);
    if (Math.abs(ago) < 10) return "just now";
    for (const [unit, size] of units) {
      const count = Math.floor(Math.abs(ago) / size);
      if (count >= 1) {
        const text = unit === "day" ? `${count} day${count > 1 ? "s" : ""}` : `${count} ${unit}`;
        return ago > 0 ? `${text} ago` : `in ${text}`;
      }
    }
    return "just now";
  };
  const retime = () => {
    for (const node of document.querySelectorAll("time[data-ts]")) {
      node.textContent = relative(Number(node.dataset.ts));
    }
  };
  setInterval(retime, 30000);

  let pending = null;
  const refresh = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      try {
        const answer = await fetch(location.href, {cache: "no-store"});
        if (!answer.ok) return;
        const page = new DOMParser().parseFromString(await answer.text(), "text/html");
        const fresh = page.getElementById("live");
        const current = document.getElementById("live");
        if (fresh && current) current.replaceWith(fresh);
      } finally {
        pending = null;
      }
    }, 300);
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-status]");
    if (!button) return;
    button.disabled = true;
    const answer = await fetch(`/api/1/item/${button.dataset.item}`, {
      method: "PATCH",
      headers: {"Content-Type": "application/json",
                "X-Rollbar-Access-Token": meta("rollbar-write-token")},
      body: JSON.stringify({status: button.dataset.status}),
    });
    if (answer.ok) {
      refresh();
    } else {
      const body = await answer.json().catch(() => ({}));
      button.disabled = false;
      button.title = body.message || `HTTP ${answer.status}`;
      button.classList.add("error-text");
    }
  });

  const filters = document.querySelector("form.filters");
  if (filters) {
    filters.addEventListener("change", (event) => {
      if (event.target.tagName === "SELECT") filters.requestSubmit();
    });
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      const query = new URLSearchParams();
      for (const [name, value] of new FormData(filters)) {
        if (String(value).trim()) query.set(name, String(value).trim());
      }
      const text = query.toString();
      location.assign(location.pathname + (text ? `?${text}` : ""));
    });
  }

  const token = meta("rollbar-read-token");
  const after = document.body.dataset.after;
  if (token && after !== undefined) {
    const url = `/api/1/feed?after=${encodeURIComponent(after)}` +
                `&access_token=${encodeURIComponent(token)}`;
    const source = new EventSource(url);
    const badge = document.querySelector("header .live");
    source.addEventListener("open", () => badge && badge.classList.add("on"));
    source.addEventListener("error", () => badge && badge.classList.remove("on"));
    source.addEventListener("occurrence", refresh);
  }
})();
"""
