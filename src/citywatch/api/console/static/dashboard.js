/* Dashboard: camera snapshots and health refresh on a timer; alerts arrive over SSE. */
(function () {
  "use strict";
  const SNAPSHOT_EVERY_MS = 3000; // each picture is an audited view: often enough, not more
  const HEALTH_EVERY_MS = 5000;
  const FEED_MAX = 100;

  const data = CW.pageData("page-data") || {};
  const points = data.operating_points || {};
  const feed = document.getElementById("feed");
  const empty = document.getElementById("feed-empty");
  const pendingCount = document.getElementById("pending-count");
  const streamState = document.getElementById("stream-state");
  const baseTitle = document.title;

  /* ---- alerts ----------------------------------------------------------------------- */

  let pending = Number(data.pending) || 0; // from the server; kept up to date by the stream

  function updateCounts() {
    pendingCount.textContent = String(pending);
    empty.classList.toggle("hidden", feed.querySelector(".alert-card") !== null);
    document.title = (pending ? "(" + pending + ") " : "") + baseTitle;
  }

  function showAlert(alert, fresh) {
    if (!alert || alert.id === undefined) return;
    const card = CWAlerts.card(alert, points, { fresh: fresh });
    const old = feed.querySelector('.alert-card[data-alert-id="' + CSS.escape(String(alert.id)) + '"]');
    if (fresh && !old && alert.status === "pending") pending += 1;
    if (old) {
      old.replaceWith(card);
    } else if (fresh) {
      feed.insertBefore(card, feed.firstChild);
    } else {
      feed.appendChild(card);
    }
    const cards = feed.querySelectorAll(".alert-card");
    for (let i = FEED_MAX; i < cards.length; i += 1) cards[i].remove();
    updateCounts();
  }

  /** Another console (or this one) decided an alert: show it as done, keep it in view. */
  function markReviewed(info) {
    if (!info || info.id === undefined) return;
    pending = Math.max(0, pending - 1);
    updateCounts();
    const card = feed.querySelector('.alert-card[data-alert-id="' + CSS.escape(String(info.id)) + '"]');
    if (!card) return;
    card.dataset.status = info.status;
    card.classList.add("done");
    const pill = card.querySelector('[data-role="status"]');
    if (pill) {
      pill.textContent = info.status;
      pill.className = "pill " + (info.status === "confirmed" ? "ok" : "idle");
    }
    updateCounts();
  }

  function setStream(level, text) {
    streamState.className = "pill " + level;
    streamState.textContent = text;
  }

  function connect() {
    const source = new EventSource("/api/v1/events/stream", { withCredentials: true });
    source.addEventListener("open", () => setStream("ok", "live"));
    source.addEventListener("alert", (ev) => {
      try {
        showAlert(JSON.parse(ev.data), true);
      } catch (_err) {
        /* a malformed event is skipped; the next one may be fine */
      }
    });
    source.addEventListener("alert.reviewed", (ev) => {
      try {
        markReviewed(JSON.parse(ev.data));
      } catch (_err) {
        /* skipped */
      }
    });
    source.addEventListener("error", async () => {
      if (source.readyState === EventSource.CLOSED) {
        setStream("bad", "disconnected");
        // closed for good: usually the session ended.  Ask, and go to the login page if so.
        try {
          await CW.api("GET", "/api/v1/auth/me");
        } catch (_err) {
          return;
        }
        window.setTimeout(connect, 5000);
      } else {
        setStream("warn", "reconnecting");
      }
    });
  }

  /* ---- cameras ---------------------------------------------------------------------- */

  const tiles = Array.from(document.querySelectorAll(".camera[data-camera]"));

  function refreshSnapshot(tile) {
    const id = tile.dataset.camera;
    const img = tile.querySelector("img.snap");
    const none = tile.querySelector(".no-signal");
    const next = new Image();
    next.addEventListener("load", () => {
      img.src = next.src;
      img.classList.remove("hidden");
      none.classList.add("hidden");
    });
    next.addEventListener("error", () => {
      img.classList.add("hidden");
      none.classList.remove("hidden");
      none.textContent = "no picture";
    });
    next.src = "/api/v1/cameras/" + encodeURIComponent(id) + "/snapshot.jpg?t=" + Date.now();
  }

  function refreshSnapshots() {
    if (document.hidden) return;
    tiles.forEach(refreshSnapshot);
  }

  function fmt(v, digits, unit) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits) + unit;
  }

  function applyHealthRow(row, h) {
    const cell = (role) => row.querySelector('[data-role="' + role + '"]');
    const state = cell("state");
    state.className = "pill " + (h ? h.level : "idle");
    state.textContent = h ? h.state : "no worker";
    cell("input_fps").textContent = h ? fmt(h.input_fps, 1, "") : "–";
    cell("analysed_fps").textContent = h ? fmt(h.analysed_fps, 1, "") : "–";
    cell("lag_s").textContent = h ? fmt(h.lag_s, 2, " s") : "–";
    cell("reconnects").textContent = h ? String(h.reconnects ?? 0) : "–";
    cell("frames_dropped").textContent = h ? String(h.frames_dropped ?? 0) : "–";
    cell("stream").textContent = h && h.stream ? h.stream : "";
    cell("stream").title = h && h.stream ? h.stream : "";
    cell("error").textContent = h && h.error ? h.error : "";
    cell("error").title = h && h.error ? h.error : "";
  }

  function applyHealth(cameras) {
    for (const row of document.querySelectorAll("#health-table tr[data-camera]")) {
      applyHealthRow(row, cameras[row.dataset.camera]);
    }
    for (const tile of tiles) {
      const h = cameras[tile.dataset.camera];
      const pill = tile.querySelector(".health");
      const stats = tile.querySelector('[data-role="stats"]');
      const error = tile.querySelector('[data-role="error"]');
      if (!h) {
        pill.className = "pill idle health";
        pill.textContent = "no worker";
        stats.textContent = "–";
        error.textContent = "";
        continue;
      }
      pill.className = "pill " + h.level + " health";
      pill.textContent = h.state;
      stats.textContent = fmt(h.analysed_fps, 1, " fps") + " · lag " + fmt(h.lag_s, 1, " s") +
        (h.reconnects ? " · " + h.reconnects + " reconnects" : "");
      error.textContent = h.error || "";
      error.title = h.error || "";
    }
  }

  async function refreshHealth() {
    if (document.hidden) return;
    try {
      const body = await CW.api("GET", "/console/health.json");
      applyHealth((body && body.cameras) || {});
    } catch (_err) {
      /* keep the last known state; the stream pill shows connection trouble */
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    (data.alerts || []).forEach((a) => showAlert(a, false));
    updateCounts();
    applyHealth(data.health || {});
    refreshSnapshots();
    window.setInterval(refreshSnapshots, SNAPSHOT_EVERY_MS);
    window.setInterval(refreshHealth, HEALTH_EVERY_MS);
    connect();
  });
})();
