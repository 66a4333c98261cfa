// Warns five minutes before the session ends, so that nobody loses what they were typing.
// Pages work without it; it only adds the warning.
(function () {
  "use strict";
  var WARN_BEFORE_MS = 5 * 60 * 1000;
  var region = document.getElementById("session-warning");
  if (!region || !window.fetch) { return; }
  function schedule() {
    fetch("/api/v1/me", { credentials: "same-origin", headers: { "accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (me) {
        if (!me || !me.session_idle_ends_at) { return; }
        var end = Math.min(Date.parse(me.session_idle_ends_at), Date.parse(me.session_ends_at));
        var delay = end - Date.now() - WARN_BEFORE_MS;
        window.setTimeout(function () {
          var at = new Date(end);
          var time = at.getHours() + " h " + String(at.getMinutes()).padStart(2, "0");
          region.textContent = region.getAttribute("data-message").replace("{time}", time);
          region.hidden = false;
        }, Math.max(delay, 0));
      })
      .catch(function () {});
  }
  schedule();
})();
