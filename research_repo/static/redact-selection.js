// Selecting text inside a passage puts it into the "Text to redact" field.
(function () {
  "use strict";
  var input = document.getElementById("value");
  var list = document.querySelector(".rr-passages");
  if (!input || !list) { return; }
  list.addEventListener("mouseup", function () {
    var text = String(window.getSelection ? window.getSelection() : "").trim();
    if (text.length >= 2 && text.length <= 200) { input.value = text; }
  });
})();
