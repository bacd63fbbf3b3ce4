/* Access requests: approve or deny with a reason (POST to the API with the CSRF token). */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form.decide-form").forEach((form) => {
      const message = form.querySelector(".message");
      const buttons = form.querySelectorAll("button[name=decision]");
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const decision = ev.submitter && ev.submitter.value;
        const reason = form.elements.reason.value.trim();
        if (!decision) return;
        if (!reason) {
          CW.showMessage(message, "error", "A reason is required.");
          form.elements.reason.focus();
          return;
        }
        buttons.forEach((b) => { b.disabled = true; });
        CW.showMessage(message, "info", "Saving…");
        try {
          const id = encodeURIComponent(form.dataset.requestId);
          const result = await CW.api("POST", "/api/v1/access-requests/" + id + "/" + decision, { reason: reason });
          const status = (result && result.status) || decision;
          form.replaceChildren(CW.el("span", { class: "pill " + (status === "approved" ? "ok" : "idle") }, status));
        } catch (err) {
          CW.showMessage(message, "error", err.message);
          buttons.forEach((b) => { b.disabled = false; });
        }
      });
    });
  });
})();
