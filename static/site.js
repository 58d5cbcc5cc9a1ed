// Optional progressive enhancement; every page works without it.
// A form's submit button is disabled once pressed, so a double tap on a slow
// phone connection sends the booking only once.
"use strict";
document.documentElement.classList.add("js");
document.addEventListener("submit", function (event) {
  var form = event.target;
  var button = form.querySelector("[data-once]");
  if (button) {
    window.setTimeout(function () { button.disabled = true; }, 0);
  }
});
// Move focus to the error summary when a form comes back with errors.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
});
// Choosing another consultation type or practitioner shows the free slots
// at once (without
// JavaScript the patient presses the button next to the list).
document.addEventListener("change", function (event) {
  var select = event.target;
  if ((select.id === "f-type-choice" || select.id === "f-practitioner-choice") && select.form) {
    select.form.submit();
  }
});
// The waiting list's window: the latest start cannot be before the
// earliest (the server checks it too; this only guides the time picker).
document.addEventListener("change", function (event) {
  var from = event.target;
  if (from.id === "f-from") {
    var to = document.getElementById("f-to");
    if (to) { to.min = from.value; }
  }
});
