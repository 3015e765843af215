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

// Render `text` with `ranges` ([start, end, key, title]) as <mark> elements. A part of the text in several ranges
// is shown once, in one mark; each range still has an element with its id (`prefix-key`): the mark where it starts,
// or an empty anchor there when another range starts at the same place. Offsets count code points, as Python's str
// does (a JavaScript string counts UTF-16 units: an emoji is two).
function highlighted(text, ranges, prefix, cls) {
  const points = Array.from(text);
  const slice = (from, to) => escapeHtml(points.slice(from, to).join(""));
  const sorted = ranges.filter((r) => r[1] > r[0]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const bounds = [...new Set(sorted.flatMap((r) => [r[0], r[1]]))].sort((x, y) => x - y);
  let out = "", cursor = 0, next = 0, active = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const from = bounds[i], to = bounds[i + 1];
    active = active.filter((r) => r[1] > from);
    const starting = [];
    while (next < sorted.length && sorted[next][0] === from) starting.push(sorted[next++]);
    active.push(...starting);
    if (!active.length) continue;
    out += slice(cursor, from);
    for (const r of starting.slice(1)) out += `<span id="${prefix}-${r[2]}" data-key="${r[2]}"></span>`;
    const [, , key, title] = starting.length ? starting[0] : active[0];
    const attrs = (starting.length ? `id="${prefix}-${key}" ` : "") + `data-key="${key}" tabindex="0"` +
      (title ? ` title="${escapeHtml(title)}"` : "") + (cls ? ` class="${cls}"` : "");
    out += `<mark ${attrs}>` + slice(from, to) + "</mark>";
    cursor = to;
  }
  return out + slice(cursor);
}

function percent(x) { return Math.round(x * 100) + "%"; }

function link(href, label) { return `<a href="${href}">${escapeHtml(label)}</a>`; }

function relationText(match) {
  if (match.relation === "contained") {
    return match.container === "stored" || match.container === "b" ? "contains it" : "is contained in it";
  }
  return { exact: "exact copy", near_duplicate: "near-duplicate", partial: "shares a passage" }[match.relation] || match.relation;
}
