// "My reports": the server renders the list; this brings it up to date whenever the filer looks at the
// page again (back to the tab, back to the browser, back from another page) or taps Refresh, so she sees a
// teacher's acknowledgement without reloading. Nothing is lost when a refresh fails: the list stays.

const root = document.getElementById("my-reports");
const button = document.getElementById("my-reports-refresh");
let refreshing = false;
let refreshes = 0;

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    // Signed out (the sign-in page) or a captive portal: keep what is shown.
    if (!response.ok || response.redirected) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("my-reports-list");
    const shown = document.getElementById("my-reports-list");
    if (fresh && shown) shown.replaceWith(document.adoptNode(fresh));
    root.dataset.refreshed = String(++refreshes);
  } catch {
    // Offline: the list stays as it was; the next look tries again.
  } finally {
    refreshing = false;
  }
}

button.addEventListener("click", (event) => {
  event.preventDefault();
  refresh();
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refresh();
});
window.addEventListener("focus", refresh);
// A page restored from the back/forward cache shows what it showed when it was left.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) refresh();
});
root.dataset.ready = "1";
