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
// import job page: poll the job and move the progress bar; reload for the report once it has ended
(function () {
  "use strict";
  var box = document.querySelector("[data-job-progress]");
  if (!box || box.getAttribute("data-job-ended") === "true" || !window.fetch) { return; }
  var url = box.getAttribute("data-job-progress");
  var bar = box.querySelector("[data-job-bar]");
  var count = box.querySelector("[data-job-count]");
  var stage = box.querySelector("[data-job-stage]");
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    }).then(function (job) {
      if (bar) { bar.value = job.progress.percent; bar.textContent = job.progress.percent + "%"; }
      if (count) { count.textContent = job.progress.done + " / " + job.progress.total; }
      if (stage) { stage.textContent = job.progress.stage; }
      if (job.status === "done" || job.status === "failed") { window.location.reload(); return; }
      window.setTimeout(poll, 1000);
    }).catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
// orders list: the header checkbox selects every order of the page for a bulk action
(function () {
  "use strict";
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var boxes = function () {
      return all.form ? all.form.querySelectorAll("input[type=checkbox][name='" + all.getAttribute("data-select-all") + "']") : [];
    };
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
  });
})();
