// The search page: plain JS over /api/search and /api/suggest. The page's URL holds the search
// (the API's own parameters, plus `page` for the page number shown), so a URL opens its search.
"use strict";

const FACET_PARAMS = {
  workplace_type: "workplace_type", employment_type: "employment_type",
  experience_level: "experience_level", country: "country", city: "city", company: "company",
  skill: "skill", source: "source", is_h1b_sponsor: "h1b", is_clearance_required: "clearance",
};
const FACET_TITLES = {
  workplace_type: "Workplace", employment_type: "Employment", experience_level: "Experience",
  country: "Country", city: "City", company: "Company", skill: "Skill", source: "Source",
  is_h1b_sponsor: "Visa sponsorship", is_clearance_required: "Clearance required",
};
const SINGLE = new Set(["h1b", "clearance"]);
const $ = (id) => document.getElementById(id);
let depth = 0; // pages pushed by this page since it loaded (the Previous button goes back)
let shownSuggestions = [];
let activeSuggestion = -1;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// A highlight fragment: the job's text escaped, then only our own <em> tags let through.
function highlighted(fragment) {
  const span = document.createElement("span");
  const text = document.createElement("div");
  text.textContent = fragment;
  span.innerHTML = text.innerHTML.replaceAll("&lt;em&gt;", "<em>").replaceAll("&lt;/em&gt;", "</em>");
  return span;
}

function money(value) {
  return value >= 1000 ? `$${Math.round(value / 1000)}k` : `$${value}`;
}

function salaryText(salary) {
  if (!salary || (salary.usd_min == null && salary.usd_max == null)) return "Salary not given";
  const low = salary.usd_min, high = salary.usd_max;
  if (low == null) return `up to ${money(high)}`;
  if (high == null || high === low) return `from ${money(low)}`;
  return `${money(low)}–${money(high)}`;
}

function placeText(hit) {
  const places = (hit.locations || [])
    .map((loc) => [loc.city, loc.country].filter(Boolean).join(", ")).filter(Boolean);
  const text = places.length ? places.slice(0, 3).join("; ") + (places.length > 3 ? " …" : "") : "";
  const where = [text, hit.workplace_type ? hit.workplace_type.replace("_", " ") : ""];
  const distance = hit.distance_km != null ? `${Math.round(hit.distance_km)} km` : "";
  return [...where, distance].filter(Boolean).join(" · ") || "Place not given";
}

function dateText(hit) {
  return (hit.date_posted || hit.updated_at || "").slice(0, 10);
}

// --------------------------------------------------------------------------- state

function state() {
  return new URLSearchParams(window.location.search);
}

function apiParams(params) {
  const out = new URLSearchParams(params);
  out.delete("page");
  return out;
}

function go(params) {
  depth += 1;
  window.history.pushState(null, "", params.toString() ? `/?${params}` : "/");
  load();
}

function restart(params) {
  params.delete("after");
  params.delete("page");
  go(params);
}

// --------------------------------------------------------------------------- rendering

function renderHit(hit) {
  const title = hit.highlight && hit.highlight.title ? highlighted(hit.highlight.title[0]) : hit.title;
  const heading = hit.listing_url
    ? el("a", { href: hit.listing_url, target: "_blank", rel: "noopener" }, title) : title;
  const snippet = hit.highlight && hit.highlight.description
    ? el("p", { class: "snippet" }, highlighted(hit.highlight.description.join(" … "))) : null;
  const also = (hit.other_sources || []).length
    ? el("span", { class: "also" }, `also on ${hit.other_sources.map((o) => o.source).join(", ")}`)
    : null;
  return el("li", { class: "job", dataset: { id: hit.id } },
    el("h2", { class: "title" }, heading),
    el("div", { class: "meta" },
      el("span", { class: "company" }, hit.company || "Company not given"),
      el("span", { class: "place" }, placeText(hit)),
      el("span", { class: salaryText(hit.salary) === "Salary not given" ? "salary none" : "salary" },
        salaryText(hit.salary)),
      el("time", { class: "date", datetime: dateText(hit) }, dateText(hit)),
      also),
    snippet);
}

function facetValue(name, bucket) {
  if (name === "is_h1b_sponsor" || name === "is_clearance_required") {
    return bucket.value === "true" ? "yes" : "no";
  }
  return bucket.value;
}

function renderFacets(facets, params) {
  const aside = $("facets");
  aside.replaceChildren();
  for (const [name, buckets] of Object.entries(facets)) {
    if (!buckets.length || !FACET_PARAMS[name]) continue;
    const param = FACET_PARAMS[name];
    const chosen = new Set(params.getAll(param));
    const list = el("ul");
    for (const bucket of buckets.slice(0, 10)) {
      const value = facetValue(name, bucket);
      const label = param === "h1b" || param === "clearance" ? value : bucket.label || bucket.value;
      const button = el("button", {
        type: "button", class: chosen.has(value) ? "facet on" : "facet",
        dataset: { facet: param, value },
      }, el("span", { class: "label" }, label), el("span", { class: "count" }, String(bucket.count)));
      button.addEventListener("click", () => toggle(param, value));
      list.append(el("li", {}, button));
    }
    aside.append(el("section", { dataset: { facet: name } }, el("h3", {}, FACET_TITLES[name] || name), list));
  }
}

function renderChips(params) {
  const box = $("active-filters");
  box.replaceChildren();
  for (const param of Object.values(FACET_PARAMS)) {
    for (const value of params.getAll(param)) {
      const chip = el("button", { type: "button", class: "chip", dataset: { facet: param, value } },
        `${param.replace("_", " ")}: ${value} ✕`);
      chip.addEventListener("click", () => toggle(param, value));
      box.append(chip);
    }
  }
}

function renderPage(page, params) {
  const number = Number(params.get("page") || "1");
  const jobs = page.total === 1 ? "1 job" : `${page.total.toLocaleString("en")} jobs`;
  const summary = $("summary");
  summary.replaceChildren(jobs);
  if (page.postings != null && page.postings !== page.total) {
    summary.append(` (${page.postings.toLocaleString("en")} postings)`);
  }
  if (page.did_you_mean) {
    const link = el("a", { href: "#", id: "did-you-mean" }, page.did_you_mean);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const next = state();
      next.set("q", page.did_you_mean);
      restart(next);
    });
    summary.append(" · did you mean ", link, "?");
  }
  $("results").replaceChildren(...page.hits.map(renderHit));
  renderFacets(page.facets, params);
  renderChips(params);
  $("page-number").textContent = page.hits.length ? `page ${number}` : "";
  $("prev").hidden = !(number > 1 && depth > 0);
  $("next").hidden = !page.next_after;
  $("next").dataset.after = page.next_after || "";
}

async function load() {
  const params = state();
  $("q").value = params.get("q") || "";
  $("sort").value = params.get("sort") || "relevance";
  hideSuggestions();
  document.body.dataset.loading = "true";
  try {
    const answer = await fetch(`/api/search?${apiParams(params)}`);
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error ? body.error.message : answer.statusText);
    $("error").hidden = true;
    renderPage(body, params);
  } catch (error) {
    $("error").textContent = String(error.message || error);
    $("error").hidden = false;
    $("results").replaceChildren();
  } finally {
    document.body.dataset.loading = "false";
    document.body.dataset.shown = window.location.search;
  }
}

// --------------------------------------------------------------------------- actions

function toggle(param, value) {
  const params = state();
  const values = params.getAll(param);
  params.delete(param);
  if (!values.includes(value)) {
    for (const kept of SINGLE.has(param) ? [] : values) params.append(param, kept);
    params.append(param, value);
  } else {
    for (const kept of values.filter((v) => v !== value)) params.append(param, kept);
  }
  restart(params);
}

function submit(text) {
  const params = state();
  const q = text.trim();
  if (q) params.set("q", q); else params.delete("q");
  const sort = $("sort").value;
  if (sort && sort !== "relevance") params.set("sort", sort); else params.delete("sort");
  restart(params);
}

function hideSuggestions() {
  $("suggestions").hidden = true;
  $("suggestions").replaceChildren();
  shownSuggestions = [];
  activeSuggestion = -1;
}

let suggestTimer = null;
let suggestAsked = 0;

async function askSuggestions(text) {
  const asked = ++suggestAsked;
  const answer = await fetch(`/api/suggest?${new URLSearchParams({ q: text, size: "8" })}`);
  if (asked !== suggestAsked || document.activeElement !== $("q")) return;
  if (!answer.ok) { hideSuggestions(); return; }
  shownSuggestions = (await answer.json()).suggestions;
  activeSuggestion = -1;
  const list = $("suggestions");
  list.replaceChildren(...shownSuggestions.map((s, index) => {
    const item = el("li", { role: "option", dataset: { text: s.text, index: String(index) } },
      el("span", { class: "text" }, s.text), el("span", { class: "kind" }, `${s.kind} · ${s.count}`));
    item.addEventListener("mousedown", (event) => { event.preventDefault(); submit(s.text); });
    return item;
  }));
  list.hidden = !shownSuggestions.length;
}

function moveSuggestion(step) {
  if (!shownSuggestions.length) return;
  activeSuggestion = (activeSuggestion + step + shownSuggestions.length) % shownSuggestions.length;
  for (const item of $("suggestions").children) {
    item.classList.toggle("active", Number(item.dataset.index) === activeSuggestion);
  }
}

$("q").addEventListener("input", () => {
  clearTimeout(suggestTimer);
  const text = $("q").value;
  if (!text.trim()) { hideSuggestions(); return; }
  suggestTimer = setTimeout(() => askSuggestions(text).catch(hideSuggestions), 150);
});
$("q").addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown") { event.preventDefault(); moveSuggestion(1); }
  else if (event.key === "ArrowUp") { event.preventDefault(); moveSuggestion(-1); }
  else if (event.key === "Escape") hideSuggestions();
  else if (event.key === "Enter" && activeSuggestion >= 0) {
    event.preventDefault();
    submit(shownSuggestions[activeSuggestion].text);
  }
});
$("q").addEventListener("blur", () => setTimeout(hideSuggestions, 100));
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(suggestTimer);
  suggestAsked += 1; // an answer still on its way must not reopen the list
  submit($("q").value);
});
$("sort").addEventListener("change", () => submit($("q").value));
$("next").addEventListener("click", () => {
  const params = state();
  params.set("after", $("next").dataset.after);
  params.set("page", String(Number(params.get("page") || "1") + 1));
  go(params);
});
$("prev").addEventListener("click", () => { depth -= 1; window.history.back(); });
window.addEventListener("popstate", load);
load();
