/* Alert cards: one builder for the live feed and for search results.  Input: the alert JSON
   of the API / SSE stream (AlertEvent.to_json keys) plus, where known, the operating point. */
(function () {
  "use strict";
  const el = (...a) => CW.el(...a);

  function evidence(alert) {
    if (alert.snapshot === false || alert.snapshot_url === null || alert.snapshot_path === null) {
      return el("figure", {}, el("div", { class: "image-placeholder", text: "no evidence picture kept" }),
        el("figcaption", { text: "camera " + alert.camera_id }));
    }
    const img = el("img", {
      src: "/api/v1/alerts/" + encodeURIComponent(alert.id) + "/snapshot.jpg",
      alt: "Evidence picture of alert " + alert.id,
      loading: "lazy",
    });
    img.addEventListener("error", () => img.replaceWith(el("div", { class: "image-placeholder", text: "no evidence picture" })));
    return el("figure", {}, img, el("figcaption", { text: "camera " + alert.camera_id }));
  }

  function reference(alert) {
    if (alert.kind === "plate") {
      return el("figure", {},
        el("div", { class: "image-placeholder" }, el("span", { class: "plate-text", text: alert.plate || "?" })),
        el("figcaption", { text: "hotlist " + (alert.watchlist || "") }));
    }
    const img = el("img", {
      src: "/api/v1/alerts/" + encodeURIComponent(alert.id) + "/photo.jpg",
      alt: "Watchlist photo for alert " + alert.id,
      loading: "lazy",
    });
    img.addEventListener("error", () => img.replaceWith(el("div", { class: "image-placeholder", text: "no watchlist photo" })));
    return el("figure", {}, img, el("figcaption", { text: "watchlist " + (alert.watchlist || "") }));
  }

  /** Score against the operating point: a gauge for faces, the edit distance for plates. */
  function score(alert, points) {
    if (alert.kind === "plate") {
      const max = alert.max_distance ?? (points && points.plate ? points.plate.max_distance : null);
      const read = alert.read && alert.read !== alert.plate
        ? "read " + alert.read + (alert.differences ? " (" + alert.differences + ")" : "") + " · " : "";
      const dist = alert.distance === null || alert.distance === undefined ? "?" : alert.distance;
      const score = el("div", { class: "score" },
        read + "edit distance " + dist + (max !== null && max !== undefined ? " (hit at ≤ " + max + ")" : "") +
        " · OCR " + Number(alert.score).toFixed(2));
      if (!alert.vehicle_note && !alert.vehicle) return score;
      const vehicle = el("div", {
        class: "vehicle" + (alert.vehicle_mismatch ? " mismatch" : ""),
        "data-role": "vehicle",
        text: alert.vehicle_note || "seen: " + alert.vehicle,
      });
      return el("div", {}, score, vehicle);
    }
    const thr = alert.threshold ?? (points && points.face ? points.face.threshold : null);
    const value = Number(alert.score);
    const gauge = el("div", { class: "gauge", title: "score " + value.toFixed(3) });
    const fill = el("div", { class: "fill" });
    // cosine scores of interest lie in 0.80..1.00: stretch that range across the gauge
    const pos = (v) => Math.max(0, Math.min(1, (v - 0.8) / 0.2)) * 100 + "%";
    fill.style.width = pos(value);
    gauge.appendChild(fill);
    if (thr !== null && thr !== undefined) {
      const mark = el("div", { class: "mark", title: "operating point " + Number(thr).toFixed(3) });
      mark.style.left = pos(Number(thr));
      gauge.appendChild(mark);
    }
    return el("div", {},
      el("div", { class: "score", text: "similarity " + value.toFixed(3) +
        (thr !== null && thr !== undefined ? " · operating point " + Number(thr).toFixed(3) : "") }),
      gauge);
  }

  function title(alert) {
    if (alert.kind === "plate") {
      return el("div", { class: "title" }, el("span", { class: "plate-text", text: alert.plate || alert.read || "?" }));
    }
    return el("div", { class: "title", text: alert.subject_name || "(subject removed)" });
  }

  function statusPill(alert) {
    const cls = alert.status === "confirmed" ? "ok" : alert.status === "rejected" ? "idle" : "warn";
    return el("span", { class: "pill " + cls, "data-role": "status", text: alert.status });
  }

  /** The card: a link to the review page. */
  function card(alert, points, options) {
    const opts = options || {};
    const node = el("a", {
      class: "alert-card " + alert.kind + (alert.status !== "pending" ? " done" : "") + (opts.fresh ? " fresh" : ""),
      href: "/alerts/" + encodeURIComponent(alert.id),
      dataset: { alertId: alert.id, status: alert.status },
    },
      el("div", { class: "row" },
        el("span", {}, el("span", { class: "pill nodot " + alert.kind, text: alert.kind }), " ",
          el("span", { class: "dim", text: alert.label || "" })),
        statusPill(alert)),
      el("div", { class: "row" }, title(alert),
        el("time", { class: "when", datetime: alert.seen_at, title: alert.seen_at, text: CW.fmtTime(alert.seen_at) })),
      el("div", { class: "images" }, evidence(alert), reference(alert)),
      score(alert, points));
    return node;
  }

  window.CWAlerts = { card };
})();
