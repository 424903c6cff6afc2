// k6gate serve: the one script, served from the binary (the CSP allows no inline script).
// Progressive enhancement only: every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // The run list's filters apply as soon as a choice changes.
  document.querySelectorAll("form.filters select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // Choosing a run as baseline and as candidate in one row makes no comparison.
  var form = document.querySelector("form.pick");
  if (form) {
    form.addEventListener("submit", function (e) {
      var b = form.querySelector("input[name=base]:checked");
      var c = form.querySelector("input[name=cand]:checked");
      if (b && c && b.value === c.value) {
        e.preventDefault();
        form.querySelector(".pick-error").textContent = "Choose two different runs.";
      }
    });
  }
});
