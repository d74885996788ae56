// Polls an import's status and updates the progress bar and the live summary.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.getAttribute("data-status") !== "running") { return; }
  var bar = document.getElementById("import-bar");
  function set(field, value) {
    var el = box.querySelector('[data-field="' + field + '"]');
    if (el) { el.textContent = value; }
  }
  function poll() {
    fetch(box.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        bar.value = s.read;
        bar.textContent = s.read + " of " + s.total;
        set("read", s.read); set("stored", s.stored); set("rejected", s.rejected);
        set("status", s.status.charAt(0).toUpperCase() + s.status.slice(1));
        box.setAttribute("data-status", s.status);
        if (s.status === "running") { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 500);
})();
