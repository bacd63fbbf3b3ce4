/* Alert review: the evidence box drawn on the frame; confirm or reject with a reason (POST to
   the API with the CSRF token). */
(function () {
  "use strict";

  /* The face (or plate) box over the evidence picture, which is shown whole ("contain") inside
     its frame: scaled from the picture's own pixels to where the picture is drawn. */
  function drawBox(holder) {
    const img = holder.querySelector("img");
    const mark = holder.querySelector(".box-mark");
    const box = (holder.dataset.box || "").split(",").map(Number);
    if (!img || !mark || box.length !== 4 || box.some((v) => !Number.isFinite(v))) return;
    const place = () => {
      const nw = img.naturalWidth, nh = img.naturalHeight;
      const cw = img.clientWidth, ch = img.clientHeight;
      if (!nw || !nh || !cw || !ch) return;
      const scale = Math.min(cw / nw, ch / nh);
      const dx = img.offsetLeft + (cw - nw * scale) / 2;
      const dy = img.offsetTop + (ch - nh * scale) / 2;
      const [x0, y0, x1, y1] = box;
      mark.style.left = (dx + Math.max(0, x0) * scale) + "px";
      mark.style.top = (dy + Math.max(0, y0) * scale) + "px";
      mark.style.width = ((Math.min(nw, x1) - Math.max(0, x0)) * scale) + "px";
      mark.style.height = ((Math.min(nh, y1) - Math.max(0, y0)) * scale) + "px";
      mark.classList.remove("hidden");
    };
    if (img.complete && img.naturalWidth) place();
    img.addEventListener("load", place);
    window.addEventListener("resize", place);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".boxed[data-box]").forEach(drawBox);
    const form = document.getElementById("review-form");
    if (!form) return;
    const message = document.getElementById("review-message");
    const buttons = form.querySelectorAll("button[name=decision]");
    let decision = null;
    buttons.forEach((b) => b.addEventListener("click", () => { decision = b.value; }));
    form.elements.reason.addEventListener("input", () => {
      if (message.classList.contains("error")) CW.showMessage(message, "", "");
    });

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const chosen = (ev.submitter && ev.submitter.value) || decision;
      const reason = form.elements.reason.value.trim();
      if (!chosen) return;
      if (!reason) {
        CW.showMessage(message, "error", "A reason is required: say what you compared and why.");
        form.elements.reason.focus();
        return;
      }
      buttons.forEach((b) => { b.disabled = true; });
      CW.showMessage(message, "info", "Saving…");
      try {
        const id = encodeURIComponent(form.dataset.alertId);
        const result = await CW.api("POST", "/api/v1/alerts/" + id + "/review", { decision: chosen, reason: reason });
        const status = (result && result.status) || (chosen === "confirm" ? "confirmed" : "rejected");
        const pill = document.getElementById("alert-status");
        pill.textContent = status;
        pill.className = "pill " + (status === "confirmed" ? "ok" : "idle");
        if (result && result.label) document.getElementById("alert-label").textContent = result.label;
        document.getElementById("reviewed-status").textContent = status;
        document.getElementById("reviewed-by").textContent = (result && result.reviewed_by) || "you";
        document.getElementById("reviewed-reason").textContent = (result && result.review_reason) || reason;
        const at = document.getElementById("reviewed-at");
        const when = (result && result.reviewed_at) || new Date().toISOString();
        at.setAttribute("datetime", when);
        at.textContent = CW.fmtTime(when);
        document.getElementById("reviewed").classList.remove("hidden");
        form.classList.add("hidden");
      } catch (err) {
        CW.showMessage(message, "error", err.message);
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
  });
})();
