/* User management: create, activate, disable, unlock; tokens.  Every call goes to the REST API
 * with the CSRF token; the page reloads to show the new state. */
(function () {
  "use strict";

  async function act(message, method, url, body) {
    CW.showMessage(message, "info", "Saving…");
    try {
      const result = await CW.api(method, url, body);
      CW.showMessage(message, "ok", "Done.");
      return result;
    } catch (err) {
      CW.showMessage(message, "error", err.message);
      return null;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const usersMessage = document.getElementById("users-message");
    document.querySelectorAll("#users-table button[data-action]").forEach((button) => {
      button.addEventListener("click", async () => {
        const row = button.closest("tr");
        const id = encodeURIComponent(row.dataset.userId);
        const action = button.dataset.action;
        if (action === "disable" && !window.confirm("Disable " + row.dataset.userName + "?")) return;
        const reason = window.prompt("Reason (kept in the audit log)", "") || "";
        if (await act(usersMessage, "POST", "/api/v1/users/" + id + "/" + action, { reason: reason })) {
          window.location.reload();
        }
      });
    });
    document.querySelectorAll("button[data-action=unlock-address]").forEach((button) => {
      button.addEventListener("click", async () => {
        const reason = window.prompt("Reason (kept in the audit log)", "") || "";
        const body = { address: button.dataset.address, reason: reason };
        if (await act(usersMessage, "POST", "/api/v1/login-blocks/unlock", body)) window.location.reload();
      });
    });
    document.querySelectorAll("#tokens-table button[data-action=revoke]").forEach((button) => {
      button.addEventListener("click", async () => {
        const id = encodeURIComponent(button.closest("tr").dataset.tokenId);
        const reason = window.prompt("Reason (kept in the audit log)", "") || "";
        if (await act(usersMessage, "POST", "/api/v1/tokens/" + id + "/revoke", { reason: reason })) {
          window.location.reload();
        }
      });
    });
    const newUser = document.getElementById("new-user");
    newUser.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = newUser.elements;
      const body = { name: f.name.value.trim(), role: f.role.value, password: f.password.value };
      if (await act(document.getElementById("new-user-message"), "POST", "/api/v1/users", body)) {
        window.location.reload();
      }
    });
    const newToken = document.getElementById("new-token");
    newToken.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = newToken.elements;
      const body = { name: f.name.value.trim(), role: f.role.value, expires_days: Number(f.expires_days.value) };
      const result = await act(document.getElementById("new-token-message"), "POST", "/api/v1/tokens", body);
      if (result && result.secret) {
        const out = document.getElementById("token-secret");
        out.textContent = "Store this secret now, it is not shown again: " + result.secret;
        out.classList.remove("hidden");
      }
    });
  });
})();
