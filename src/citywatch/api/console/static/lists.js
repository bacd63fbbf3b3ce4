/* Lists & cameras: watchlists (create, enrol photos in bulk with progress, remove subjects),
   hotlists (add plates, import CSV with progress, remove plates), cameras (register, edit),
   authorisations (record).  Every change goes through the REST API with the CSRF token. */
(function () {
  "use strict";
  const el = (...a) => CW.el(...a);
  const enc = encodeURIComponent;

  function messageOf(form) { return form.querySelector(".message"); }

  /* ---- tables refreshed after a change --------------------------------------------- */

  function button(action, name, text) {
    return el("button", { type: "button", class: "secondary small", dataset: { action: action, name: name }, text: text });
  }

  async function refreshWatchlists() {
    const page = await CW.api("GET", "/api/v1/watchlists?limit=500");
    const tbody = document.querySelector("#watchlists tbody");
    tbody.replaceChildren(...page.items.map((w) => el("tr", { dataset: { name: w.name } },
      el("td", { text: w.name }),
      el("td", { class: "mono", text: w.authorisation_reference }),
      el("td", { class: "num", text: w.subjects + " / " + w.max_subjects }),
      el("td", {}, button("subjects", w.name, "Subjects")))));
    document.getElementById("watchlist-count").textContent = String(page.items.length);
    const select = document.getElementById("enrol-watchlist");
    if (select) {
      const current = select.value;
      select.replaceChildren(...page.items.map((w) => el("option", { value: w.name, text: w.name })));
      if (current) select.value = current;
    }
  }

  async function refreshHotlists() {
    const page = await CW.api("GET", "/api/v1/hotlists?limit=500");
    const tbody = document.querySelector("#hotlists tbody");
    tbody.replaceChildren(...page.items.map((h) => el("tr", { dataset: { name: h.name } },
      el("td", { text: h.name }),
      el("td", { text: h.reason }),
      el("td", { class: "num", text: h.entries }),
      el("td", {}, button("plates", h.name, "Plates")))));
    document.getElementById("hotlist-count").textContent = String(page.items.length);
    const names = document.getElementById("hotlist-names");
    if (names) names.replaceChildren(...page.items.map((h) => el("option", { value: h.name })));
    document.querySelectorAll("select.hotlist-select").forEach((select) => {
      const current = select.value;
      select.replaceChildren(...page.items.map((h) => el("option", { value: h.name, text: h.name })),
        el("option", { value: "", text: "New hotlist…" }));
      if (page.items.some((h) => h.name === current)) select.value = current;
      showNewHotlist(select);
    });
  }

  /* The hotlist chooser: the existing lists, or "New hotlist…" with a name field. */
  function showNewHotlist(select) {
    const field = select.form.querySelector(".new-hotlist");
    if (field) field.classList.toggle("hidden", select.value !== "");
  }

  function hotlistOf(f) {
    return f.hotlist.value || (f.new_hotlist ? f.new_hotlist.value.trim() : "");
  }


  const REFRESH = { watchlists: refreshWatchlists, hotlists: refreshHotlists };

  /* ---- generic JSON forms (data-endpoint, data-method, data-type per field) ---------- */

  function formBody(form) {
    const body = {};
    for (const field of form.elements) {
      if (!field.name || field.disabled) continue;
      const type = field.dataset.type || "text";
      if (type === "bool") { body[field.name] = field.checked; continue; }
      const raw = field.value.trim();
      if (type === "list") { body[field.name] = raw ? raw.split(",").map((v) => v.trim()).filter(Boolean) : []; continue; }
      if (raw === "") continue;
      if (type === "int") body[field.name] = Number.parseInt(raw, 10);
      else if (type === "datetime") body[field.name] = CW.localInputToIso(raw);
      else body[field.name] = raw;
    }
    return body;
  }

  function wireJsonForm(form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const message = messageOf(form);
      const missing = Array.from(form.elements).find((f) => f.required && !f.value.trim());
      if (missing) {
        CW.showMessage(message, "error", "Fill in " + (form.querySelector("label[for='" + missing.id + "']") || {}).textContent + ".");
        missing.focus();
        return;
      }
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        await CW.api(form.dataset.method || "POST", form.dataset.endpoint, formBody(form));
        CW.showMessage(message, "ok", "Saved.");
        if (form.dataset.reload) { window.location.reload(); return; }
        form.reset();
        if (REFRESH[form.dataset.refresh]) await REFRESH[form.dataset.refresh]();
      } catch (err) {
        CW.showMessage(message, "error", err.message);
      } finally {
        submit.disabled = false;
      }
    });
  }

  /* ---- subjects and plates (names: each listing is audited by the server) ----------- */

  function removable(panel, title, items, columns, removeUrl) {
    const reason = el("input", { type: "text", maxlength: "1000", placeholder: "Reason for a removal (audited)" });
    const message = el("div", { class: "message", role: "status" });
    const rows = items.map((item) => {
      const remove = el("button", { type: "button", class: "reject small", text: "Remove" });
      const row = el("tr", {}, columns(item).map((c) => el("td", {}, c)), el("td", {}, remove));
      remove.addEventListener("click", async () => {
        if (!reason.value.trim()) { CW.showMessage(message, "error", "Give a reason for the removal first."); reason.focus(); return; }
        remove.disabled = true;
        try {
          await CW.api("DELETE", removeUrl(item) + "?reason=" + enc(reason.value.trim()));
          row.remove();
          CW.showMessage(message, "ok", "Removed.");
        } catch (err) {
          CW.showMessage(message, "error", err.message);
          remove.disabled = false;
        }
      });
      return row;
    });
    const close = el("button", { type: "button", class: "secondary small", text: "Close" });
    close.addEventListener("click", () => panel.classList.add("hidden"));
    panel.replaceChildren(
      el("div", { class: "row-between" }, el("h3", { text: title }), close),
      rows.length ? el("table", {}, el("tbody", {}, rows)) : el("p", { class: "faint", text: "Empty." }),
      rows.length ? reason : "", message);
    panel.classList.remove("hidden");
  }

  async function showSubjects(name) {
    const panel = document.getElementById("subjects");
    try {
      const page = await CW.api("GET", "/api/v1/watchlists/" + enc(name) + "/subjects?limit=500");
      removable(panel, "Subjects of " + name, page.items,
        (s) => [s.name, el("span", { class: "faint", text: s.photos + " photo(s) · " + s.image_source })],
        (s) => "/api/v1/watchlists/" + enc(name) + "/subjects/" + enc(s.name));
    } catch (err) {
      panel.replaceChildren(el("div", { class: "message error", text: err.message }));
      panel.classList.remove("hidden");
    }
  }

  async function showPlates(name) {
    const panel = document.getElementById("plates");
    try {
      const page = await CW.api("GET", "/api/v1/hotlists/" + enc(name) + "/plates?limit=500");
      removable(panel, "Plates on " + name, page.items,
        (p) => [el("span", { class: "plate-text", text: p.plate }),
          el("span", { class: "faint", text: [p.vehicle_colour, p.vehicle_kind].filter(Boolean).join(" ") }),
          el("span", { class: "faint", text: p.reason })],
        (p) => "/api/v1/hotlists/" + enc(name) + "/plates/" + enc(p.plate));
    } catch (err) {
      panel.replaceChildren(el("div", { class: "message error", text: err.message }));
      panel.classList.remove("hidden");
    }
  }

  /* ---- enrolment: one subject per request, progress over files ---------------------- */

  function subjectFromFile(name) {
    return name.replace(/\.[A-Za-z0-9]{1,5}$/, "").replace(/[_]+/g, " ").trim();
  }

  function wireEnrol(form) {
    const bar = CW.progress(document.getElementById("enrol-progress"));
    const log = document.getElementById("enrol-log");
    const message = messageOf(form);
    const subjectField = document.getElementById("enrol-subject-field");
    const mode = () => form.elements.mode.value;
    for (const radio of form.querySelectorAll("input[name=mode]")) {
      radio.addEventListener("change", () => subjectField.classList.toggle("hidden", mode() === "many"));
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = form.elements;
      const files = Array.from(f.photos.files);
      const subject = f.subject_name.value.trim();
      const problems = [];
      if (!f.watchlist.value) problems.push("choose a watchlist");
      if (mode() === "one" && !subject) problems.push("enter the subject's name");
      if (!f.reason.value.trim()) problems.push("give a reason");
      if (!f.image_source.value.trim()) problems.push("say where the photos come from");
      if (!files.length) problems.push("choose at least one photo");
      if (problems.length) { CW.showMessage(message, "error", "To enrol: " + problems.join(", ") + "."); return; }
      const jobs = mode() === "one"
        ? [{ subject: subject, files: files }]
        : files.map((file) => ({ subject: subjectFromFile(file.name), files: [file] }));
      const submit = document.getElementById("enrol-submit");
      submit.disabled = true;
      log.replaceChildren();
      bar.show();
      let done = 0;
      let refused = 0;
      for (const job of jobs) {
        const data = new FormData();
        data.append("subject_name", job.subject);
        data.append("reason", f.reason.value.trim());
        data.append("image_source", f.image_source.value.trim());
        job.files.forEach((file) => data.append("photos", file, file.name));
        const label = job.subject + " (" + job.files.length + " photo" + (job.files.length === 1 ? "" : "s") + ")";
        try {
          await CW.upload("/api/v1/watchlists/" + enc(f.watchlist.value) + "/subjects", data, (frac) => {
            bar.set((done + frac * 0.9) / jobs.length, "uploading " + label);
          });
          log.appendChild(el("li", { class: "ok", text: "enrolled " + label }));
        } catch (err) {
          refused += 1;
          log.appendChild(el("li", { class: "error", text: label + ": " + err.message }));
        }
        done += 1;
        bar.set(done / jobs.length, done + " of " + jobs.length + " done" + (refused ? ", " + refused + " refused" : ""));
      }
      try { await refreshWatchlists(); } catch (_err) { /* the table stays as it was */ }
      CW.showMessage(message, refused ? "error" : "ok",
        (jobs.length - refused) + " of " + jobs.length + " enrolled" + (refused ? "; see the refused ones below" : "") + ".");
      submit.disabled = false;
      if (refused === 0) form.reset();
      subjectField.classList.toggle("hidden", mode() === "many");
    });
  }

  /* ---- hotlists: one plate, CSV import with progress ------------------------------- */

  function wirePlate(form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = form.elements;
      const message = messageOf(form);
      if (!hotlistOf(f) || !f.plate.value.trim() || !f.reason.value.trim()) {
        CW.showMessage(message, "error", "Hotlist, plate and reason are all required.");
        return;
      }
      try {
        const body = { plate: f.plate.value.trim(), reason: f.reason.value.trim() };
        if (f.vehicle_kind && f.vehicle_kind.value) body.vehicle_kind = f.vehicle_kind.value;
        if (f.vehicle_colour && f.vehicle_colour.value) body.vehicle_colour = f.vehicle_colour.value;
        const entry = await CW.api("POST", "/api/v1/hotlists/" + enc(hotlistOf(f)) + "/plates", body);
        CW.showMessage(message, "ok", "Plate " + entry.plate + " is on " + hotlistOf(f) + ".");
        f.plate.value = "";
        await refreshHotlists();
      } catch (err) {
        CW.showMessage(message, "error", err.message);
      }
    });
  }

  function wireImport(form) {
    const bar = CW.progress(document.getElementById("import-progress"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = form.elements;
      const message = messageOf(form);
      const file = f.file.files[0];
      if (!hotlistOf(f) || !file) {
        CW.showMessage(message, "error", "Choose the hotlist and a CSV file.");
        return;
      }
      const data = new FormData();
      data.append("file", file, file.name);
      data.append("reason", f.reason.value.trim());
      const submit = document.getElementById("import-submit");
      submit.disabled = true;
      bar.show();
      bar.set(0, "uploading " + file.name);
      CW.showMessage(message, "info", "Importing " + file.name + "…");
      try {
        const result = await CW.upload("/api/v1/hotlists/" + enc(hotlistOf(f)) + "/import", data, (frac) => {
          if (frac < 1) bar.set(frac, "uploading " + Math.round(frac * 100) + "%");
          else bar.busy("checking and importing every line…");
        });
        bar.set(1, "done");
        form.reset();
        await refreshHotlists();
        CW.showMessage(message, "ok", result.added + " plate(s) added to " + result.hotlist + " (plates already on it were skipped).");
      } catch (err) {
        bar.set(0, "refused");
        CW.showMessage(message, "error", err.message);
      } finally {
        submit.disabled = false;
      }
    });
  }

  /* ---- cameras ---------------------------------------------------------------------- */

  function wireCameras(form) {
    const cameras = CW.pageData("cameras-data") || [];
    const f = form.elements;
    const title = document.getElementById("camera-form-title");
    const submit = document.getElementById("camera-submit");
    let editing = null;

    function fill(cam) {
      editing = cam ? cam.id : null;
      form.reset();
      f.id.disabled = Boolean(cam);
      title.textContent = cam ? "Edit camera " + cam.id : "Register a camera";
      submit.textContent = cam ? "Save changes" : "Register camera";
      if (!cam) return;
      for (const key of ["id", "name", "zone", "legal_basis", "impact_assessment", "approved_on", "operator", "withhold_location"]) {
        f[key].value = cam[key] ?? "";
      }
      f.lat.value = cam.lat ?? "";
      f.lon.value = cam.lon ?? "";
      for (const box of form.querySelectorAll("input[name=purposes]")) box.checked = cam.purposes.includes(box.value);
      document.getElementById("camera-details").open = true;
      f.url.focus();
    }

    document.getElementById("camera-new").addEventListener("click", () => fill(null));
    document.addEventListener("click", (ev) => {
      const target = ev.target.closest("[data-action=edit-camera]");
      if (target) fill(cameras.find((c) => c.id === target.dataset.camera) || null);
    });

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const message = messageOf(form);
      const body = {
        name: f.name.value.trim(),
        url: f.url.value.trim(),
        detect_url: f.detect_url.value.trim() || null,
        purposes: Array.from(form.querySelectorAll("input[name=purposes]:checked")).map((b) => b.value),
        zone: f.zone.value.trim(),
        legal_basis: f.legal_basis.value.trim(),
        impact_assessment: f.impact_assessment.value.trim(),
        approved_on: f.approved_on.value || null,
        operator: f.operator.value.trim(),
        withhold_location: f.withhold_location.value.trim(),
        location: f.lat.value !== "" && f.lon.value !== "" ? { lat: Number(f.lat.value), lon: Number(f.lon.value) } : null,
      };
      if (!body.url || (!editing && !f.id.value.trim())) {
        CW.showMessage(message, "error", "The camera id and its stream URL are required.");
        return;
      }
      try {
        if (editing) {
          await CW.api("PUT", "/api/v1/cameras/" + enc(editing), body);
        } else {
          body.id = f.id.value.trim();
          await CW.api("POST", "/api/v1/cameras", body);
        }
        f.url.value = "";
        f.detect_url.value = "";
        window.location.reload();
      } catch (err) {
        CW.showMessage(message, "error", err.message);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("select.hotlist-select").forEach((select) => {
      select.addEventListener("change", () => showNewHotlist(select));
      showNewHotlist(select);
    });
    document.querySelectorAll("form.json-form").forEach(wireJsonForm);
    const enrol = document.getElementById("enrol-form");
    if (enrol) wireEnrol(enrol);
    const plate = document.getElementById("plate-form");
    if (plate) wirePlate(plate);
    const imp = document.getElementById("import-form");
    if (imp) wireImport(imp);
    const cam = document.getElementById("camera-form");
    if (cam) wireCameras(cam);
    document.addEventListener("click", (ev) => {
      const target = ev.target.closest("button[data-action]");
      if (!target) return;
      if (target.dataset.action === "subjects") showSubjects(target.dataset.name);
      if (target.dataset.action === "plates") showPlates(target.dataset.name);
    });
  });
})();
