// Selecting words in the passage fills "Selected text" and the offsets of the selection within
// the passage text. Screen-reader-only labels inside redaction marks are not part of the text.
(function () {
  "use strict";
  var box = document.getElementById("passage-text");
  var quote = document.getElementById("quote");
  var start = document.getElementById("start");
  var end = document.getElementById("end");
  if (!box || !quote || !start || !end) { return; }

  function offsetOf(node, offset) {
    var walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT, null);
    var total = 0;
    var current;
    while ((current = walker.nextNode())) {
      var hidden = current.parentElement && current.parentElement.closest(".usa-sr-only");
      if (current === node) { return hidden ? total : total + offset; }
      if (!hidden) { total += current.nodeValue.length; }
    }
    return -1;
  }

  function update() {
    var sel = window.getSelection ? window.getSelection() : null;
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) { return; }
    var range = sel.getRangeAt(0);
    if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) { return; }
    var a = offsetOf(range.startContainer, range.startOffset);
    var b = offsetOf(range.endContainer, range.endOffset);
    if (a < 0 || b <= a) { return; }
    var text = "";
    var walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT, null);
    var node;
    while ((node = walker.nextNode())) {
      if (!(node.parentElement && node.parentElement.closest(".usa-sr-only"))) { text += node.nodeValue; }
    }
    quote.value = text.slice(a, b);
    start.value = String(a);
    end.value = String(b);
  }

  box.addEventListener("mouseup", update);
  box.addEventListener("keyup", update);
  quote.addEventListener("input", function () { start.value = ""; end.value = ""; });
})();
