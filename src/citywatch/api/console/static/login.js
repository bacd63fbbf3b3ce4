/* Sign in: POST the credentials as JSON; on success go to ?next= (a local path) or the
   role's start page.  The session cookie is HttpOnly: this script never sees it. */
(function () {
  "use strict";

  function localPath(value) {
    if (!value || value[0] !== "/" || value.startsWith("//") || value.includes("\\")) return null;
    return value;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("login-form");
    const message = document.getElementById("login-message");
    const submit = document.getElementById("login-submit");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const username = form.elements.username.value.trim();
      const password = form.elements.password.value;
      if (!username || !password) {
        CW.showMessage(message, "error", "Enter your user name and password.");
        return;
      }
      submit.disabled = true;
      CW.showMessage(message, "info", "Signing in…");
      try {
        await CW.api("POST", "/api/v1/auth/login", { username: username, password: password }, { noRedirect: true });
        window.location.assign(localPath(form.dataset.next) || "/home");
      } catch (err) {
        const text = err.status === 401 || err.status === 400
          ? "Wrong user name or password, or the account is locked."
          : err.message;
        CW.showMessage(message, "error", text);
        form.elements.password.value = "";
        form.elements.password.focus();
        submit.disabled = false;
      }
    });
  });
})();
