/* citywatch console: what every page shares.
 *
 * Rules kept here so the page scripts cannot forget them:
 *  - DOM is built with textContent / attributes only (CW.el), never innerHTML: text from the
 *    server (names, plates, reasons) can never become markup.
 *  - Every unsafe request carries the session's CSRF token from <meta name="csrf-token">.
 *  - A 401 from the API means the session ended: back to the login page.
 */
(function () {
  "use strict";

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  /** Build an element: CW.el("div", {class: "x", dataset: {id: 1}}, "text", childNode, ...). */
  function el(tag, attrs, ...children) {
    const ns = attrs && attrs.svg ? "http://www.w3.org/2000/svg" : null;
    const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false || key === "svg") continue;
      if (key === "dataset") {
        for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
      } else if (key === "text") {
        node.textContent = String(value);
      } else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else {
        node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function loginUrl() {
    const here = window.location.pathname + window.location.search;
    return "/login?next=" + encodeURIComponent(here);
  }

  /** FastAPI's error body -> one readable line. */
  function errorText(status, body) {
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) {
      return body.detail
        .map((d) => {
          const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
          return (where ? where + ": " : "") + (d.msg || "invalid");
        })
        .join("; ");
    }
    if (status === 403) return "You do not have permission to do this.";
    if (status === 413) return "The upload is too large.";
    if (status === 429) return "Too many attempts; wait a moment and try again.";
    return "The server answered " + status + ".";
  }

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  /** fetch() with the CSRF header, JSON in and out, and errors as ApiError. */
  async function api(method, url, body, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    const init = { method: method, headers: headers, credentials: "same-origin" };
    if (!["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = csrf();
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined && body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(url, init);
    let data = null;
    const type = resp.headers.get("content-type") || "";
    if (type.includes("application/json")) {
      try {
        data = await resp.json();
      } catch (_err) {
        data = null;
      }
    }
    if (resp.status === 401 && !opts.noRedirect) {
      window.location.assign(loginUrl());
      throw new ApiError(401, "Your session has ended; please sign in again.", data);
    }
    if (!resp.ok) throw new ApiError(resp.status, errorText(resp.status, data), data);
    return data;
  }

  /** Upload with progress (XHR: fetch has no upload progress).  onProgress(fraction 0..1). */
  function upload(url, formData, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.withCredentials = true;
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (ev) => {
        if (ev.lengthComputable && onProgress) onProgress(ev.loaded / ev.total);
      });
      xhr.addEventListener("load", () => {
        const data = xhr.response;
        if (xhr.status === 401) {
          window.location.assign(loginUrl());
          reject(new ApiError(401, "Your session has ended; please sign in again.", data));
        } else if (xhr.status >= 200 && xhr.status < 300) {
          resolve(data);
        } else {
          reject(new ApiError(xhr.status, errorText(xhr.status, data), data));
        }
      });
      xhr.addEventListener("error", () => reject(new ApiError(0, "Network error: the server could not be reached.", null)));
      xhr.send(formData);
    });
  }

  /** A progress bar element pair: <div class="progress"><div class="bar"><div class="fill"></div></div><div class="label"></div></div> */
  function progress(root) {
    const fill = root.querySelector(".fill");
    const label = root.querySelector(".label");
    return {
      show() { root.classList.remove("hidden"); },
      hide() { root.classList.add("hidden"); },
      set(fraction, text) {
        root.classList.remove("busy");
        fill.style.width = Math.max(0, Math.min(1, fraction)) * 100 + "%";
        if (text !== undefined) label.textContent = text;
      },
      busy(text) {
        root.classList.add("busy");
        fill.style.width = "";
        if (text !== undefined) label.textContent = text;
      },
    };
  }

  function showMessage(node, kind, text) {
    node.className = "message " + kind;
    node.textContent = text;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  /** ISO time -> "2024-05-01 14:03:22" in the browser's local time. */
  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function fmtAgo(iso) {
    const d = new Date(iso);
    const s = Math.round((Date.now() - d.getTime()) / 1000);
    if (Number.isNaN(s)) return "";
    if (s < 5) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  /** A datetime-local input's value -> ISO 8601 with the browser's offset (aware time). */
  function localInputToIso(value) {
    if (!value) return null;
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }

  /** Read a <script type="application/json" id=...> data block (not executed: CSP-safe). */
  function pageData(id) {
    const node = document.getElementById(id);
    if (!node) return null;
    try {
      return JSON.parse(node.textContent || "null");
    } catch (_err) {
      return null;
    }
  }

  function startClock() {
    const node = document.getElementById("clock");
    if (!node) return;
    const tick = () => {
      const d = new Date();
      node.textContent = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    };
    tick();
    window.setInterval(tick, 1000);
  }

  function localiseTimes(root) {
    for (const node of (root || document).querySelectorAll("time[datetime]")) {
      node.textContent = fmtTime(node.getAttribute("datetime"));
      node.title = node.getAttribute("datetime");
    }
  }

  function wireLogout() {
    const button = document.getElementById("logout");
    if (!button) return;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api("POST", "/api/v1/auth/logout", {}, { noRedirect: true });
      } catch (_err) {
        /* the session may already be gone: the login page is the right place either way */
      }
      window.location.assign("/login");
    });
  }

  window.CW = {
    api, upload, progress, el, csrf, fmtTime, fmtAgo, localInputToIso, pageData,
    showMessage, localiseTimes, ApiError,
  };

  document.addEventListener("DOMContentLoaded", () => {
    startClock();
    wireLogout();
    localiseTimes(document);
  });
})();
