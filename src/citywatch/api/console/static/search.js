/* History search: POST to the API with a case reference (kept out of URLs and history).
   The case reference is remembered for this browser tab only (sessionStorage). */
(function () {
  "use strict";
  const el = (...a) => CW.el(...a);
  const PAGE = 100;
  const CASE_KEY = "citywatch.case_ref";

  const results = () => document.getElementById("results");
  const count = () => document.getElementById("result-count");

  function showTab(kind) {
    for (const form of document.querySelectorAll(".search-form")) {
      form.classList.toggle("hidden", form.dataset.kind !== kind);
    }
    for (const tab of document.querySelectorAll(".tabs a")) {
      tab.classList.toggle("active", tab.id === "tab-" + kind);
    }
  }

  function optional(body, key, value) {
    if (value !== null && value !== undefined && value !== "") body[key] = value;
  }

  function timeCell(iso) {
    return el("td", {}, el("time", { datetime: iso, title: iso, text: CW.fmtTime(iso) }));
  }

  function plateTable(items, fuzzy) {
    const head = ["Last seen", "Camera", "Plate", "Vehicle", "Confidence", "Votes", "Format"];
    if (fuzzy) head.push("Edits");
    head.push("Held");
    const tbody = el("tbody", {});
    for (const r of items) {
      const row = el("tr", { dataset: { readId: r.id } },
        timeCell(r.last_seen_at),
        el("td", { class: "mono", text: r.camera_id }),
        el("td", {}, el("span", { class: "plate-text", text: r.plate })),
        el("td", { text: [r.vehicle_colour, r.vehicle_kind].filter(Boolean).join(" ") }),
        el("td", { class: "num", text: Number(r.confidence).toFixed(2) }),
        el("td", { class: "num", text: r.votes + "/" + r.reads }),
        el("td", { text: r.plate_format || "" }));
      if (fuzzy) row.appendChild(el("td", { class: "num", text: r.distance ?? "" }));
      row.appendChild(el("td", { text: r.evidence_hold ? "evidence hold" : "" }));
      tbody.appendChild(row);
    }
    return el("div", { class: "table-wrap" },
      el("table", { id: "plate-results" }, el("thead", {}, el("tr", {}, head.map((h) => el("th", { text: h })))), tbody));
  }

  function alertTable(items) {
    const tbody = el("tbody", {});
    for (const a of items) {
      const what = a.kind === "plate"
        ? el("span", { class: "plate-text", text: a.plate || a.read || "?" })
        : el("span", { text: a.subject_name || "(removed)" });
      const status = a.status === "confirmed" ? "ok" : a.status === "rejected" ? "idle" : "warn";
      tbody.appendChild(el("tr", { dataset: { alertId: a.id } },
        timeCell(a.seen_at),
        el("td", {}, el("span", { class: "pill nodot " + a.kind, text: a.kind })),
        el("td", {}, what, el("br"), el("span", { class: "faint", text: a.watchlist || "" })),
        el("td", { class: "mono", text: a.camera_id }),
        el("td", { class: "num", text: Number(a.score).toFixed(3) }),
        el("td", {}, el("span", { class: "pill " + status, text: a.status })),
        el("td", {}, el("a", { href: "/alerts/" + encodeURIComponent(a.id), text: "Open" }))));
    }
    return el("div", { class: "table-wrap" },
      el("table", { id: "alert-results" },
        el("thead", {}, el("tr", {}, ["Seen", "Kind", "Subject / plate", "Camera", "Score", "Status", ""].map((h) => el("th", { text: h })))),
        tbody));
  }

  function render(kind, page, fuzzy, more) {
    const box = results();
    box.replaceChildren();
    const items = page.items || [];
    count().textContent = items.length + (more ? "+" : "") + " result" + (items.length === 1 ? "" : "s");
    if (!items.length) {
      box.appendChild(el("p", { class: "faint", text: "Nothing found." }));
      return;
    }
    box.appendChild(kind === "alerts" ? alertTable(items) : plateTable(items, fuzzy));
  }

  async function search(form) {
    const kind = form.dataset.kind;
    const message = form.querySelector(".message");
    const f = form.elements;
    const caseRef = f.case_ref.value.trim();
    if (!caseRef) {
      CW.showMessage(message, "error", "A case reference is required for every search.");
      f.case_ref.focus();
      return;
    }
    sessionStorage.setItem(CASE_KEY, caseRef);
    for (const other of document.querySelectorAll(".case-ref")) other.value = caseRef;
    const body = { case_ref: caseRef, limit: PAGE };
    let url;
    let fuzzy = false;
    if (kind === "plates") {
      const pattern = f.pattern.value.trim();
      if (!pattern) {
        CW.showMessage(message, "error", "Enter a plate or a pattern.");
        f.pattern.focus();
        return;
      }
      fuzzy = f.fuzzy.checked;
      body.pattern = pattern;
      body.fuzzy = fuzzy;
      optional(body, "camera_id", f.camera_id.value);
      optional(body, "zone", f.zone.value);
      url = "/api/v1/search/plates";
    } else if (kind === "vehicles") {
      const kindValue = f.vehicle_kind.value;
      const colour = f.vehicle_colour.value;
      if (!kindValue && !colour) {
        CW.showMessage(message, "error", "Choose a vehicle type or colour.");
        f.vehicle_kind.focus();
        return;
      }
      optional(body, "vehicle_kind", kindValue);
      optional(body, "vehicle_colour", colour);
      optional(body, "pattern", f.pattern.value.trim());
      optional(body, "camera_id", f.camera_id.value);
      optional(body, "zone", f.zone.value);
      url = "/api/v1/search/vehicles";
    } else {
      optional(body, "subject", f.subject.value.trim());
      optional(body, "camera_id", f.camera_id.value);
      optional(body, "kind", f.kind.value);
      url = "/api/v1/search/alerts";
    }
    optional(body, "since", CW.localInputToIso(f.since.value));
    optional(body, "until", CW.localInputToIso(f.until.value));
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    CW.showMessage(message, "info", "Searching… (recorded under case " + caseRef + ")");
    try {
      const page = await CW.api("POST", url, body);
      const more = (page.items || []).length >= PAGE;
      render(kind, page, fuzzy, more);
      CW.showMessage(message, "ok", "Search recorded in the audit log under case " + caseRef + ".");
    } catch (err) {
      CW.showMessage(message, "error", err.message);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const saved = sessionStorage.getItem(CASE_KEY);
    if (saved) for (const input of document.querySelectorAll(".case-ref")) input.value = saved;
    for (const form of document.querySelectorAll(".search-form")) {
      form.addEventListener("submit", (ev) => { ev.preventDefault(); search(form); });
    }
    for (const tab of document.querySelectorAll(".tabs a")) {
      tab.addEventListener("click", (ev) => {
        ev.preventDefault();
        const kind = tab.id.replace("tab-", "");
        history.replaceState(null, "", "#" + kind);
        showTab(kind);
      });
    }
    const wanted = window.location.hash.replace("#", "");
    showTab(wanted && document.getElementById(wanted + "-form") ? wanted : "plates");
  });
})();
