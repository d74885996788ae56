// Warn two minutes before an idle session ends (SESSION_IDLE_MINUTES); "Stay signed in" sends
// one request, which counts as activity on the server.
(function () {
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle-seconds"), 10);
  var warning = document.getElementById("rr-idle-warning");
  if (!idle || !warning) { return; }
  var timer = null;
  function arm() {
    warning.hidden = true;
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(function () { warning.hidden = false; }, Math.max(idle - 120, 1) * 1000);
  }
  document.getElementById("rr-stay").addEventListener("click", function () {
    fetch(body.getAttribute("data-ping"), { credentials: "same-origin" }).then(function (r) {
      if (r.ok) { arm(); } else { window.location.reload(); }
    });
  });
  arm();
}());
