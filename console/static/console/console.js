/* The consent console's behaviour: one file, no inline scripts (the CSP allows only 'self'). */
(function () {
  "use strict";

  // htmx would add its indicator rules as an inline <style>, which the CSP refuses;
  // console.css carries them.
  if (window.htmx) {
    window.htmx.config.includeIndicatorStyles = false;
  }

  // --- Live progress: an element with data-progress-url is refreshed while it says it is live.
  function applyProgress(root, data) {
    const total = data.total || 0;
    root.dataset.total = total;
    const set = (role, value) => {
      const el = root.querySelector('[data-role="' + role + '"]');
      if (el) el.textContent = value;
    };
    set("total", total);
    set("done", data.done);
    set("percent", (total ? Math.round((100 * data.done) / total) : 0) + "%");
    const status = root.closest("[data-progress-url]").querySelector('[data-role="status"]');
    if (status && data.status_label) status.textContent = data.status_label;
    let x = 0;
    const width = 1000;
    for (const key of data.order) {
      const n = data.counts[key] || 0;
      const w = total ? (width * n) / total : 0;
      const rect = root.querySelector('rect[data-status="' + key + '"]');
      if (rect) {
        rect.setAttribute("x", x.toFixed(2));
        rect.setAttribute("width", w.toFixed(2));
      }
      x += w;
      const legend = root.querySelector('.console-legend[data-status="' + key + '"]');
      if (legend) {
        legend.hidden = n === 0;
        const count = legend.querySelector('[data-role="count"]');
        if (count) count.textContent = n;
      }
    }
    const svg = root.querySelector("svg[role=img]");
    if (svg) svg.setAttribute("aria-label", data.summary);
  }

  function watchProgress(box) {
    const url = box.dataset.progressUrl;
    const bar = box.querySelector(".console-bar");
    const tick = () => {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((data) => {
          applyProgress(bar, data);
          box.dataset.live = data.live ? "true" : "false";
          if (data.live) {
            window.setTimeout(tick, 1000);
          } else {
            box.classList.add("console-progress--finished");
          }
        })
        .catch(() => window.setTimeout(tick, 5000));
    };
    if (box.dataset.live === "true") window.setTimeout(tick, 1000);
  }

  // --- Copy a preference link to the clipboard.
  function copyButtons() {
    for (const button of document.querySelectorAll("[data-copy-target]")) {
      button.addEventListener("click", () => {
        const source = document.getElementById(button.dataset.copyTarget);
        if (!source) return;
        const text = source.value || source.textContent;
        const done = () => {
          button.textContent = button.dataset.copiedLabel || "Copied";
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, () => {
            source.select && source.select();
          });
        } else if (source.select) {
          source.select();
          document.execCommand("copy");
          done();
        }
      });
    }
  }

  // --- A button that asks before it acts (erase, opt-out): data-confirm="question".
  function confirmations() {
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const box of document.querySelectorAll("[data-progress-url]")) watchProgress(box);
    copyButtons();
    confirmations();
  });
})();
