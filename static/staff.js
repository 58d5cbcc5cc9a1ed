// Staff console: optional enhancements; every page works without them.
// The day's "print" button (受付表) exists only where a script can press
// the browser's print command; without JavaScript the page says to use the
// browser's own.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var buttons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function () { window.print(); });
  }
  var hints = document.querySelectorAll("[data-print-hint]");
  for (var j = 0; j < hints.length; j++) {
    hints[j].hidden = true;
  }
});
