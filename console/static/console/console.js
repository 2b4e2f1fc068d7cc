/* The consent console's behaviour: one file, no inline scripts (the CSP allows only 'self'). */
(function () {
  "use strict";

  // htmx would add its indicator rules as an inline <style>, which the CSP refuses;
  // console.css carries them.
  if (window.htmx) {
    window.htmx.config.includeIndicatorStyles = false;
  }

  // A box with data-panel-url is redrawn whole from that URL (bar, counts and messages
  // from one reading, so they never disagree) until the server says it is no longer live.
  function watchProgress(box) {
    const url = box.dataset.panelUrl;
    const tick = () => {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then((r) => (r.ok ? r.text().then((html) => [html, r.headers.get("X-Campaign-Live")]) : Promise.reject(r.status)))
        .then(([html, live]) => {
          box.innerHTML = html;
          box.dataset.live = live === "true" ? "true" : "false";
          if (live === "true") {
            window.setTimeout(tick, 1000);
          } else {
            box.classList.add("console-progress--finished");
          }
        })
        .catch(() => window.setTimeout(tick, 5000));
    };
    if (box.dataset.live === "true") window.setTimeout(tick, 1000);
  }

  // --- A campaign's template fields do not apply to a re-consent campaign.
  function campaignKind() {
    const kind = document.getElementById("id_kind");
    const fields = document.querySelector(".campaign-template-fields");
    if (!kind || !fields) return;
    const apply = () => {
      fields.hidden = kind.value === "reconsent";
    };
    kind.addEventListener("change", apply);
    apply();
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

  // --- Dates in the admin read in this browser's time zone (console.middleware).
  function rememberTimeZone() {
    try {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone) document.cookie = "console_tz=" + zone + "; path=/; SameSite=Lax";
    } catch (e) {
      /* an old browser: the server's time zone */
    }
  }

  rememberTimeZone();
  document.addEventListener("DOMContentLoaded", () => {
    for (const box of document.querySelectorAll("[data-panel-url]")) watchProgress(box);
    campaignKind();
    copyButtons();
    confirmations();
  });
})();
