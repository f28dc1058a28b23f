// famsim's pages work without this script; it only adds two conveniences, written by
// hand because they are a few lines each (no framework needed):
//  1. a language picker that applies on change (the button stays for keyboards);
//  2. live regions: an element with data-live="<url>" is refreshed from that URL every
//     few seconds while the tab is visible, so balances move without a page reload.
"use strict";

const LIVE_EVERY_MS = 3000;

document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const region of document.querySelectorAll("[data-live]")) {
    keepFresh(region);
  }
});

function keepFresh(region) {
  let busy = false;
  const refresh = async () => {
    if (busy || document.hidden) return;
    busy = true;
    region.setAttribute("aria-busy", "true");
    try {
      const answer = await fetch(region.dataset.live, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (answer.redirected || answer.status === 401) {
        window.location.assign("/login");
        return;
      }
      if (answer.ok) {
        region.innerHTML = await answer.text();
        region.dataset.refreshed = String(Date.now());
      }
    } catch (error) {
      // The server is restarting or the network dropped: keep the last figures.
    } finally {
      busy = false;
      region.setAttribute("aria-busy", "false");
    }
  };
  setInterval(refresh, LIVE_EVERY_MS);
}
