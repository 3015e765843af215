// Shared helpers of the reprints pages: API calls (with the token, if the server asks for one) and highlighting.
"use strict";

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const token = sessionStorage.getItem("reprints-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    const given = window.prompt("This server needs its token:");
    if (given) {
      sessionStorage.setItem("reprints-token", given);
      return api(path, options);
    }
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Render `text` with `ranges` ([start, end, key, title]) as <mark> elements; overlapping parts are shown once.
// Offsets count code points, as Python's str does (a JavaScript string counts UTF-16 units: an emoji is two).
function highlighted(text, ranges, prefix, cls) {
  const points = Array.from(text);
  const slice = (from, to) => points.slice(from, to).join("");
  const sorted = ranges.slice().sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let out = "", cursor = 0;
  for (const [start, end, key, title] of sorted) {
    const from = Math.max(start, cursor);
    if (end <= from) continue;
    out += escapeHtml(slice(cursor, from));
    const attrs = `id="${prefix}-${key}" data-key="${key}" tabindex="0"` + (title ? ` title="${escapeHtml(title)}"` : "");
    out += `<mark ${attrs}${cls ? ` class="${cls}"` : ""}>` + escapeHtml(slice(from, end)) + "</mark>";
    cursor = end;
  }
  return out + escapeHtml(slice(cursor));
}

function percent(x) { return Math.round(x * 100) + "%"; }

function link(href, label) { return `<a href="${href}">${escapeHtml(label)}</a>`; }

function relationText(match) {
  if (match.relation === "contained") {
    return match.container === "stored" || match.container === "b" ? "contains it" : "is contained in it";
  }
  return { exact: "exact copy", near_duplicate: "near-duplicate", partial: "shares a passage" }[match.relation] || match.relation;
}
