// Receiving forms (receipts, inbound deliveries): "Add line" adds a row in place; without this
// script the same button sends the form back with one more row. The scan box keeps the focus.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-add-line]");
    if (!btn || !btn.form) { return; }
    var box = btn.form.querySelector("[data-lines]");
    var rows = box && box.querySelectorAll("[data-line]");
    if (!rows || !rows.length) { return; }
    ev.preventDefault();
    var row = rows[rows.length - 1].cloneNode(true);
    row.classList.remove("line-bad");
    row.querySelectorAll(".line-error").forEach(function (el) { el.remove(); });
    row.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
    });
    box.appendChild(row);
    var first = row.querySelector("input");
    if (first) { first.focus(); }
  });
  var scan = document.querySelector("[data-scan]");
  if (scan && document.activeElement !== scan) { scan.focus(); }
})();
