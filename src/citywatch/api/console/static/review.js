/* Alert review: confirm or reject with a reason (POST to the API with the CSRF token). */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", () => {
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
