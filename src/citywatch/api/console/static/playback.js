/* Playback for a case: the timeline of a camera's recorded segments with its alerts, a player
   that plays segment after segment, and the signed export.  Every request carries the case
   reference; the API audits the timeline, each playback start and the export. */
(function () {
  "use strict";
  const el = (...a) => CW.el(...a);
  const $ = (id) => document.getElementById(id);
  const CASE_KEY = "citywatch.case_ref";
  const PRE_ROLL_S = 5; // an alert marker plays from a few seconds before the alert
  const PREFILL_S = 120; // the alert page's link: this long either side of the alert

  const state = { tl: null, caseRef: "", index: -1, pendingSeek: 0 };

  const ms = (iso) => new Date(iso).getTime();

  function fraction(iso) {
    const t0 = ms(state.tl.started_at);
    const t1 = ms(state.tl.ended_at);
    return Math.max(0, Math.min(1, (ms(iso) - t0) / (t1 - t0)));
  }

  function segmentAt(t) {
    const segs = state.tl.segments;
    for (let i = 0; i < segs.length; i++) {
      if (ms(segs[i].started_at) <= t && t < ms(segs[i].ended_at || segs[i].started_at)) return i;
    }
    for (let i = 0; i < segs.length; i++) if (ms(segs[i].started_at) > t) return i; // next one
    return -1;
  }

  function play(i, offsetS) {
    const seg = state.tl.segments[i];
    const player = $("player");
    state.index = i;
    state.pendingSeek = Math.max(0, offsetS || 0);
    player.classList.remove("hidden");
    player.src = seg.url + "?case_ref=" + encodeURIComponent(state.caseRef);
    player.play().catch(() => { /* autoplay refused: the controls still work */ });
  }

  function playAt(t) {
    const i = segmentAt(t);
    if (i < 0) {
      CW.showMessage($("player-message"), "info", "Nothing was recorded from that time on in this range.");
      return;
    }
    CW.showMessage($("player-message"), "", "");
    play(i, (t - ms(state.tl.segments[i].started_at)) / 1000);
  }

  function wirePlayer() {
    const player = $("player");
    player.addEventListener("loadedmetadata", () => {
      if (state.pendingSeek > 0 && state.pendingSeek < player.duration) player.currentTime = state.pendingSeek;
      state.pendingSeek = 0;
    });
    player.addEventListener("timeupdate", () => {
      if (!state.tl || state.index < 0) return;
      const t = ms(state.tl.segments[state.index].started_at) + player.currentTime * 1000;
      const head = $("tl-playhead");
      head.classList.remove("hidden");
      head.style.left = fraction(new Date(t).toISOString()) * 100 + "%";
      $("playhead-time").textContent = CW.fmtTime(new Date(t).toISOString());
      player.dataset.wallTime = new Date(t).toISOString();
    });
    player.addEventListener("ended", () => {
      if (state.tl && state.index + 1 < state.tl.segments.length) play(state.index + 1, 0);
    });
    player.addEventListener("error", () => {
      CW.showMessage($("player-message"), "error", "This segment could not be played (see the audit log and the server log).");
    });
  }

  function drawTimeline() {
    const tl = state.tl;
    const track = $("tl-track");
    track.replaceChildren();
    for (const r of tl.ranges) {
      const left = fraction(r.started_at);
      const width = Math.max(0.002, fraction(r.ended_at) - left);
      const bar = el("div", {
        class: "tl-range",
        title: CW.fmtTime(r.started_at) + " – " + CW.fmtTime(r.ended_at) + " (" + r.segments + " segments)",
      });
      bar.style.left = left * 100 + "%"; // CSSOM, not a style attribute: the CSP allows it
      bar.style.width = width * 100 + "%";
      track.appendChild(bar);
    }
    for (const a of tl.alerts) {
      const label = a.kind === "plate" ? (a.plate || a.read || "plate") : (a.subject_name || "face");
      const mark = el("button", {
        type: "button",
        class: "tl-alert " + a.kind,
        title: "Alert " + a.id + " · " + label + " · " + CW.fmtTime(a.seen_at),
        "aria-label": "Play from alert " + a.id,
        dataset: { alertId: a.id },
        onclick: (ev) => { ev.stopPropagation(); playAt(ms(a.seen_at) - PRE_ROLL_S * 1000); },
      });
      mark.style.left = fraction(a.seen_at) * 100 + "%";
      track.appendChild(mark);
    }
    $("tl-from").textContent = CW.fmtTime(tl.started_at);
    $("tl-to").textContent = CW.fmtTime(tl.ended_at);
    for (const id of ["timeline", "tl-scale"]) $(id).classList.remove("hidden");
    $("timeline-empty").classList.toggle("hidden", tl.segments.length > 0);
    $("timeline-empty").textContent = tl.segments.length ? "" : "Nothing was recorded in this range.";
  }

  function drawAlerts() {
    const data = CW.pageData("playback-data") || {};
    const box = $("tl-alerts");
    $("alert-count").textContent = state.tl.alerts.length ? String(state.tl.alerts.length) : "";
    if (!state.tl.alerts.length) {
      box.replaceChildren(el("p", { class: "faint", text: "No alert of this camera in the range." }));
      return;
    }
    const rows = state.tl.alerts.map((a) => el("tr", {},
      el("td", {}, el("time", { datetime: a.seen_at, text: CW.fmtTime(a.seen_at) })),
      el("td", {}, el("span", { class: "pill nodot " + a.kind, text: a.kind })),
      el("td", { text: a.kind === "plate" ? (a.plate || a.read || "") : (a.subject_name || "") }),
      el("td", { text: a.status }),
      el("td", {},
        el("button", { type: "button", class: "link-button", text: "Play", onclick: () => playAt(ms(a.seen_at) - PRE_ROLL_S * 1000) }),
        data.may_open_alerts ? el("a", { href: "/alerts/" + a.id, text: " Open" }) : null)));
    box.replaceChildren(el("div", { class: "table-wrap" }, el("table", { id: "alert-table" },
      el("thead", {}, el("tr", {}, ["Seen", "Kind", "Who / plate", "Status", ""].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows))));
  }

  function asked() {
    const caseRef = $("pb-case").value.trim();
    const from = CW.localInputToIso($("pb-from").value);
    const to = CW.localInputToIso($("pb-to").value);
    if (!caseRef) throw new Error("A case reference is required.");
    if (!from || !to) throw new Error("Give the start and the end of the range.");
    return { camera: $("pb-camera").value, caseRef: caseRef, from: from, to: to };
  }

  async function show(ev) {
    ev.preventDefault();
    const msg = $("pb-message");
    let q;
    try {
      q = asked();
    } catch (err) {
      CW.showMessage(msg, "error", err.message);
      return;
    }
    sessionStorage.setItem(CASE_KEY, q.caseRef);
    const params = new URLSearchParams({ from: q.from, to: q.to, case_ref: q.caseRef });
    try {
      state.tl = await CW.api("GET", "/api/v1/recordings/" + encodeURIComponent(q.camera) + "/timeline?" + params);
    } catch (err) {
      CW.showMessage(msg, "error", err.message);
      return;
    }
    state.caseRef = q.caseRef;
    state.index = -1;
    CW.showMessage(msg, "ok", state.tl.segments.length + " segment(s), " + state.tl.alerts.length + " alert(s) in the range.");
    $("pb-export").disabled = state.tl.segments.length === 0;
    drawTimeline();
    drawAlerts();
  }

  async function exportEvidence() {
    const msg = $("pb-message");
    let q;
    try {
      q = asked();
    } catch (err) {
      CW.showMessage(msg, "error", err.message);
      return;
    }
    const button = $("pb-export");
    button.disabled = true;
    CW.showMessage(msg, "info", "Cutting and signing the export…");
    try {
      const resp = await fetch("/api/v1/recordings/" + encodeURIComponent(q.camera) + "/export", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": CW.csrf(), Accept: "application/zip, application/json" },
        body: JSON.stringify({ started_at: q.from, ended_at: q.to, case_ref: q.caseRef }),
      });
      if (!resp.ok) {
        let detail = "";
        try { detail = (await resp.json()).detail; } catch (_err) { detail = ""; }
        throw new Error(typeof detail === "string" && detail ? detail : "The export failed (" + resp.status + ").");
      }
      const blob = await resp.blob();
      const name = (resp.headers.get("content-disposition") || "").match(/filename="?([^";]+)"?/);
      const link = el("a", { href: URL.createObjectURL(blob), download: name ? name[1] : "export.zip" });
      document.body.appendChild(link);
      link.click();
      link.remove();
      CW.showMessage(msg, "ok", "Export downloaded; check it with `citywatch recordings verify`.");
    } catch (err) {
      CW.showMessage(msg, "error", err.message);
    } finally {
      button.disabled = false;
    }
  }

  /** A Date as a datetime-local input's value, in the browser's time zone. */
  function localInput(d) {
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  /** ?camera=ID&at=ISO (the alert page's link): that camera, two minutes either side. */
  function prefill() {
    const q = new URLSearchParams(window.location.search);
    const camera = q.get("camera");
    if (camera && [...$("pb-camera").options].some((o) => o.value === camera)) $("pb-camera").value = camera;
    const at = q.get("at") ? new Date(q.get("at")) : null;
    if (at && !Number.isNaN(at.getTime())) {
      $("pb-from").value = localInput(new Date(at.getTime() - PREFILL_S * 1000));
      $("pb-to").value = localInput(new Date(at.getTime() + PREFILL_S * 1000));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const saved = sessionStorage.getItem(CASE_KEY);
    if (saved) $("pb-case").value = saved;
    prefill();
    $("playback-form").addEventListener("submit", show);
    $("pb-export").addEventListener("click", exportEvidence);
    $("timeline").addEventListener("click", (ev) => {
      if (!state.tl) return;
      const box = $("timeline").getBoundingClientRect();
      const f = (ev.clientX - box.left) / box.width;
      playAt(ms(state.tl.started_at) + f * (ms(state.tl.ended_at) - ms(state.tl.started_at)));
    });
    wirePlayer();
  });
})();
