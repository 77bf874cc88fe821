// Qoima web shell: a little vanilla JS, nothing required for the pages to work.
(function () {
  "use strict";
  // mobile menu
  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest("[data-nav-toggle]");
    if (toggle) {
      var open = document.body.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      return;
    }
    if (document.body.classList.contains("nav-open") && !ev.target.closest("#sidebar")) {
      document.body.classList.remove("nav-open");
    }
  });
  // confirm dangerous buttons (e.g. cancelling an order)
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-confirm]");
    if (btn && !window.confirm(btn.getAttribute("data-confirm"))) {
      ev.preventDefault();
    }
  });
  // user form: the seller field only matters for seller users
  function syncSeller(select) {
    var field = select.form && select.form.querySelector("[data-seller-field]");
    if (field) { field.style.display = select.value === "seller" ? "" : "none"; }
  }
  document.querySelectorAll("[data-role-select]").forEach(function (select) {
    syncSeller(select);
    select.addEventListener("change", function () { syncSeller(select); });
  });
})();
