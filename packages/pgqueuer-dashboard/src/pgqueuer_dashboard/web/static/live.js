// pgq web: confirmations for actions, and live regions refreshed when the queue changes.
// The server sends a "queue-change" server-sent event (debounced); the page then fetches its
// own URL with the X-PGQ-Partial header and swaps the returned live region in. No library.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  var region = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!region || !window.EventSource || document.querySelector("meta[http-equiv=refresh]")) return;
  var prefix = status && status.textContent.indexOf("read-only") === 0 ? "read-only · " : "";
  function show(state) {
    if (!status) return;
    status.textContent = prefix + state;
    status.className = "live-" + state;
  }
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    // pathname + search, never href: a URL with user:password@ cannot be fetched
    fetch(window.location.pathname + window.location.search, {
      headers: { "X-PGQ-Partial": "1" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      region.innerHTML = html;
      region.setAttribute("data-updated", String(Date.now()));
      show("live");
    }).catch(function () {
      show("offline");
    }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  var source = new EventSource("/events");
  source.addEventListener("queue-change", refresh);
  source.onopen = function () { show("live"); };
  source.onerror = function () { show("reconnecting"); };
  window.addEventListener("pagehide", function () { source.close(); });
})();
