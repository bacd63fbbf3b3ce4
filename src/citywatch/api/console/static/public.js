/* Public register: the monthly alerts chart (stacked bars: confirmed, rejected = false alerts,
   pending review).  The map is the console's map.js; data comes from the page's JSON block
   (CSP: no inline scripts, DOM built with CW.el only). */
(function () {
  "use strict";
  const KINDS = ["confirmed", "rejected", "pending"];
  const H = 220;
  const PAD = { left: 44, right: 12, top: 14, bottom: 34 };

  function s(tag, attrs, ...children) {
    return CW.el(tag, Object.assign({ svg: true }, attrs || {}), ...children);
  }

  /** The axis for counts: a whole-number step (1, 2, 2.5 or 5 times a power of ten, at least 1)
   *  and a top that is a multiple of it, so every tick is an integer. */
  function countAxis(max) {
    const rough = Math.max(1, max) / 4;
    const pow = Math.pow(10, Math.floor(Math.log10(rough)));
    let step = 10 * pow;
    for (const m of [1, 2, 2.5, 5]) {
      if (rough <= m * pow && Number.isInteger(m * pow)) { step = m * pow; break; }
    }
    step = Math.max(1, Math.round(step));
    return { top: Math.max(step, Math.ceil(Math.max(1, max) / step) * step), step: step };
  }

  function draw(svg, months) {
    const w = Math.max(320, svg.getBoundingClientRect().width || 800);
    svg.setAttribute("viewBox", "0 0 " + w + " " + H);
    svg.replaceChildren();
    if (!months.length) {
      svg.appendChild(s("text", { x: w / 2, y: H / 2, class: "empty", "text-anchor": "middle", text: "No alerts yet" }));
      return;
    }
    const { top, step } = countAxis(Math.max(1, ...months.map((m) => m.alerts)));
    const plotW = w - PAD.left - PAD.right;
    const plotH = H - PAD.top - PAD.bottom;
    const slot = plotW / months.length;
    const barW = Math.max(4, Math.min(48, slot * 0.6));
    const y = (v) => PAD.top + plotH - (v / top) * plotH;

    const axis = s("g", { class: "axis" });
    for (let v = 0; v <= top; v += step) {
      axis.appendChild(s("line", { x1: PAD.left, x2: w - PAD.right, y1: y(v), y2: y(v) }));
      axis.appendChild(s("text", { class: "tick", x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", text: String(v) }));
    }
    svg.appendChild(axis);

    const bars = s("g", { class: "bars" });
    const every = Math.ceil(months.length / 12);
    months.forEach((m, i) => {
      const x = PAD.left + slot * i + (slot - barW) / 2;
      let base = 0;
      const group = s("g", { class: "month", dataset: { month: m.month } },
        s("title", { text: m.month + ": " + m.alerts + " alert(s), " + m.confirmed + " confirmed, " + m.rejected + " rejected, " + m.pending + " pending" }));
      for (const k of KINDS) {
        const v = m[k] || 0;
        if (v > 0) {
          group.appendChild(s("rect", { class: "bar " + k, x: x, width: barW, y: y(base + v), height: y(base) - y(base + v) }));
        }
        base += v;
      }
      if (i % every === 0) {
        group.appendChild(s("text", { class: "label", x: x + barW / 2, y: H - PAD.bottom + 16, "text-anchor": "middle", text: m.month }));
      }
      bars.appendChild(group);
    });
    svg.appendChild(bars);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const data = CW.pageData("page-data") || {};
    const months = Array.isArray(data.months) ? data.months : [];
    const svg = document.getElementById("stats-chart");
    if (!svg) return;
    draw(svg, months);
    window.addEventListener("resize", () => draw(svg, months));
  });
})();
