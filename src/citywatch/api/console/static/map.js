/* Camera map: Web Mercator projection drawn in SVG.  With a tile URL template ({z}/{x}/{y})
   the tiles are drawn under the markers; without one (the default, and offline) the markers
   stand on a latitude/longitude grid.  Drag to pan, +/- to zoom. */
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const TILE = 256;
  const data = CW.pageData("page-data") || {};
  const cameras = (data.cameras || []).filter((c) => Number.isFinite(c.lat) && Number.isFinite(c.lon));
  const tiles = typeof data.tiles === "string" && data.tiles ? data.tiles : null;

  function s(tag, attrs, ...children) {
    return CW.el(tag, Object.assign({ svg: true }, attrs || {}), ...children);
  }

  /** lon/lat -> world pixels at zoom z (Web Mercator). */
  function project(lon, lat, z) {
    const scale = TILE * Math.pow(2, z);
    const clamped = Math.max(-85.05112878, Math.min(85.05112878, lat));
    const sin = Math.sin((clamped * Math.PI) / 180);
    return {
      x: ((lon + 180) / 360) * scale,
      y: (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * scale,
    };
  }

  function unproject(x, y, z) {
    const scale = TILE * Math.pow(2, z);
    const lon = (x / scale) * 360 - 180;
    const n = Math.PI - (2 * Math.PI * y) / scale;
    const lat = (180 / Math.PI) * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n)));
    return { lon: lon, lat: lat };
  }

  const svg = document.getElementById("map");
  const view = { z: 15, cx: 0, cy: 0 }; // centre in world pixels at zoom z

  function size() {
    const r = svg.getBoundingClientRect();
    return { w: Math.max(200, r.width), h: Math.max(200, r.height) };
  }

  function fit() {
    const { w, h } = size();
    if (!cameras.length) {
      view.z = 2;
      const c = project(0, 20, view.z);
      view.cx = c.x; view.cy = c.y;
      return;
    }
    const lons = cameras.map((c) => c.lon);
    const lats = cameras.map((c) => c.lat);
    let z = 18;
    for (; z > 1; z -= 1) {
      const a = project(Math.min(...lons), Math.max(...lats), z);
      const b = project(Math.max(...lons), Math.min(...lats), z);
      if (b.x - a.x < w * 0.7 && b.y - a.y < h * 0.7) break;
    }
    view.z = z;
    const a = project(Math.min(...lons), Math.max(...lats), z);
    const b = project(Math.max(...lons), Math.min(...lats), z);
    view.cx = (a.x + b.x) / 2;
    view.cy = (a.y + b.y) / 2;
  }

  function tileUrl(z, x, y) {
    return tiles.replaceAll("{z}", String(z)).replaceAll("{x}", String(x)).replaceAll("{y}", String(y));
  }

  /** A 'nice' grid step in degrees for the span shown. */
  function niceStep(span) {
    const raw = span / 6;
    const pow = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * pow) return m * pow;
    return 10 * pow;
  }

  function decimals(step) {
    return Math.max(0, Math.min(6, -Math.floor(Math.log10(step)) + 0));
  }

  function draw() {
    const { w, h } = size();
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.replaceChildren();
    const ox = view.cx - w / 2;
    const oy = view.cy - h / 2;
    const layer = s("g", {});
    svg.appendChild(layer);

    if (tiles) {
      const n = Math.pow(2, view.z);
      const g = s("g", { class: "tiles" });
      for (let tx = Math.floor(ox / TILE); tx <= Math.floor((ox + w) / TILE); tx += 1) {
        for (let ty = Math.floor(oy / TILE); ty <= Math.floor((oy + h) / TILE); ty += 1) {
          if (ty < 0 || ty >= n) continue;
          const wrapped = ((tx % n) + n) % n;
          g.appendChild(s("image", {
            href: tileUrl(view.z, wrapped, ty), x: tx * TILE - ox, y: ty * TILE - oy,
            width: TILE, height: TILE, preserveAspectRatio: "none",
          }));
        }
      }
      layer.appendChild(g);
    }

    // latitude/longitude grid (always: it stays useful over tiles and is all there is without)
    const nw = unproject(ox, oy, view.z);
    const se = unproject(ox + w, oy + h, view.z);
    const step = niceStep(Math.max(se.lon - nw.lon, 1e-6));
    const dp = decimals(step);
    const grid = s("g", { class: "map-grid" });
    for (let lon = Math.ceil(nw.lon / step) * step; lon <= se.lon; lon += step) {
      const x = project(lon, 0, view.z).x - ox;
      grid.appendChild(s("line", { x1: x, y1: 0, x2: x, y2: h }));
      grid.appendChild(s("text", { x: x + 4, y: h - 6, class: "grid-label", text: lon.toFixed(dp) + "°" }));
    }
    for (let lat = Math.ceil(se.lat / step) * step; lat <= nw.lat; lat += step) {
      const y = project(0, lat, view.z).y - oy;
      grid.appendChild(s("line", { x1: 0, y1: y, x2: w, y2: y }));
      grid.appendChild(s("text", { x: 6, y: y - 4, class: "grid-label", text: lat.toFixed(dp) + "°" }));
    }
    layer.appendChild(grid);

    // scale bar: metres per pixel at the centre latitude
    const centre = unproject(view.cx, view.cy, view.z);
    const mpp = (156543.03392 * Math.cos((centre.lat * Math.PI) / 180)) / Math.pow(2, view.z);
    let metres = 1;
    for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000]) {
      if (m / mpp <= 140) metres = m;
    }
    const len = metres / mpp;
    layer.appendChild(s("g", { class: "scale" },
      s("line", { x1: 16, y1: 24, x2: 16 + len, y2: 24 }),
      s("text", { x: 16, y: 18, text: metres >= 1000 ? metres / 1000 + " km" : metres + " m" })));

    // markers
    const marks = s("g", { class: "markers" });
    for (const c of cameras) {
      const p = project(c.lon, c.lat, view.z);
      const x = p.x - ox;
      const y = p.y - oy;
      const purposes = c.purposes || [];
      const kind = purposes.includes("face") && purposes.includes("plate") ? "both" : purposes[0] || "both";
      const link = s("a", { href: "#", class: "marker " + kind, dataset: { camera: c.id } },
        s("title", { text: c.id + (c.name ? " — " + c.name : "") + (c.zone ? " (" + c.zone + ")" : "") }),
        s("circle", { class: "halo", cx: x, cy: y, r: 14 }),
        s("circle", { class: "dot", cx: x, cy: y, r: 7 }),
        s("text", { x: x + 12, y: y + 4, text: c.id }));
      link.addEventListener("click", (ev) => { ev.preventDefault(); highlight(c.id); });
      marks.appendChild(link);
    }
    layer.appendChild(marks);
  }

  function highlight(id) {
    for (const row of document.querySelectorAll("#camera-table tr[data-camera]")) {
      row.classList.toggle("selected", row.dataset.camera === id);
    }
    for (const m of svg.querySelectorAll(".marker")) {
      m.classList.toggle("selected", m.dataset.camera === id);
    }
  }

  function zoom(delta) {
    const nz = Math.max(1, Math.min(19, view.z + delta));
    const f = Math.pow(2, nz - view.z);
    view.cx *= f; view.cy *= f; view.z = nz;
    draw();
  }

  document.addEventListener("DOMContentLoaded", () => {
    fit();
    draw();
    document.getElementById("zoom-in").addEventListener("click", () => zoom(1));
    document.getElementById("zoom-out").addEventListener("click", () => zoom(-1));
    document.getElementById("zoom-fit").addEventListener("click", () => { fit(); draw(); });
    for (const row of document.querySelectorAll("#camera-table tr[data-camera]")) {
      row.addEventListener("click", () => highlight(row.dataset.camera));
    }
    let drag = null;
    svg.addEventListener("pointerdown", (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, cx: view.cx, cy: view.cy };
      svg.setPointerCapture(ev.pointerId);
    });
    svg.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      view.cx = drag.cx - (ev.clientX - drag.x);
      view.cy = drag.cy - (ev.clientY - drag.y);
      draw();
    });
    svg.addEventListener("pointerup", () => { drag = null; });
    svg.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY < 0 ? 1 : -1); }, { passive: false });
    window.addEventListener("resize", draw);
  });
})();
