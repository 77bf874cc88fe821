// The floor's scanner pages: a keyboard-wedge scanner types the code and Enter into the focused input
// (typing works the same). Every request carries an operation id, kept when the request is retried.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var audio = null;

  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = ok ? "sine" : "square";
      osc.frequency.value = ok ? 1200 : 220;
      gain.gain.value = 0.15;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + (ok ? 0.12 : 0.45));
    } catch (e) { /* no sound: the colour still says it */ }
  }

  function opId() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "op-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  // POST JSON; a lost answer is sent again with the same body (and so the same operation id)
  function post(url, body, tries) {
    tries = tries === undefined ? 3 : tries;
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                       body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { return {status: r.status, body: j}; }); })
      .catch(function (err) {
        if (tries > 1) { return new Promise(function (res) { setTimeout(res, 400); }).then(function () { return post(url, body, tries - 1); }); }
        throw err;
      });
  }
  window.qoimaFloor = {post: post, beep: beep, opId: opId};

  function show(box, ok, text) {
    box.textContent = text || "";
    box.className = "scan-result " + (ok ? "ok" : "bad");
    beep(ok);
  }

  function problemText(res) {
    var b = res.body || {};
    return b.message || b.detail || b.title || ("HTTP " + res.status);
  }

  // --- picking ---------------------------------------------------------------------------------------------
  var root = document.querySelector("[data-floor-pick]");
  if (root) { pickPage(root); }

  function pickPage(root) {
    var lang = root.getAttribute("data-lang"), wh = root.getAttribute("data-warehouse") || null;
    var t = function (k) { return root.getAttribute("data-t-" + k) || k; };
    var input = root.querySelector("[data-scan-input]"), qty = root.querySelector("[data-scan-qty]");
    var result = root.querySelector("[data-result]"), prompt = root.querySelector("[data-prompt]");
    var stop = root.querySelector("[data-stop]"), stops = root.querySelector("[data-stops]");
    var task = null;

    function render(tk) {
      task = tk;
      stops.innerHTML = "";
      if (!tk) { stop.hidden = true; prompt.textContent = t("none"); return; }
      (tk.stops || []).forEach(function (s) {
        var li = document.createElement("li");
        li.textContent = s.location + " · " + s.name + " · " + s.picked + "/" + (s.quantity - s.short) + " · " + t("tote") + " " + s.tote;
        if (s.picked + s.short >= s.quantity) { li.className = "done"; }
        stops.appendChild(li);
      });
      var c = tk.current;
      if (!c) { stop.hidden = true; prompt.textContent = t("done"); return; }
      stop.hidden = false;
      root.querySelector("[data-stop-location]").textContent = c.location;
      root.querySelector("[data-stop-name]").textContent = c.name;
      root.querySelector("[data-stop-sku]").textContent = c.sku;
      root.querySelector("[data-stop-picked]").textContent = c.picked;
      root.querySelector("[data-stop-qty]").textContent = c.quantity;
      root.querySelector("[data-stop-tote]").textContent = t("tote") + " " + c.tote;
      prompt.textContent = c.expect === "location" ? t("location") : t("item");
      qty.disabled = c.expect === "location" || c.marking_required;
      if (qty.disabled) { qty.value = 1; }
    }

    function answer(res) {
      if (res.status === 200 && res.body && "ok" in res.body) {
        show(result, res.body.ok, res.body.message);
        render(res.body.task);
      } else {
        show(result, false, problemText(res));
      }
      input.value = "";
      input.focus();
    }

    function failed() { show(result, false, t("offline")); input.focus(); }

    function next() {
      post("/api/v1/floor/tasks/next?lang=" + lang, {warehouse: wh}).then(function (res) {
        if (res.status === 200) { render(res.body.task); } else { show(result, false, problemText(res)); }
        input.focus();
      }, failed);
    }

    root.querySelector("[data-scan-form]").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var raw = input.value;
      if (!raw.trim() || !task) { input.focus(); return; }
      var n = parseInt(qty.value, 10) || 1;
      post("/api/v1/floor/tasks/" + task.id + "/scans?lang=" + lang, {op_id: opId(), raw: raw, quantity: n})
        .then(answer, failed);
      qty.value = 1;
    });
    root.addEventListener("click", function (ev) {
      var btn = ev.target.closest("[data-action]");
      if (!btn) { return; }
      var what = btn.getAttribute("data-action");
      if (what === "next") { next(); return; }
      if (!task) { return; }
      if (what === "undo") {
        post("/api/v1/floor/tasks/" + task.id + "/undo?lang=" + lang, {op_id: opId()}).then(answer, failed);
      } else if (what === "short") {
        var found = window.prompt(t("found"), "0");
        if (found === null) { input.focus(); return; }
        post("/api/v1/floor/tasks/" + task.id + "/short?lang=" + lang,
             {op_id: opId(), found: parseInt(found, 10) || 0}).then(answer, failed);
      }
    });
    document.addEventListener("click", function (ev) {  // the input keeps the focus for the scanner
      if (!ev.target.closest("input, button, select, a, textarea")) { input.focus(); }
    });
    next();
  }
})();
// packing station and courier handover
(function () {
  "use strict";
  var F = window.qoimaFloor;
  if (!F) { return; }
  function el(root, sel) { return root.querySelector(sel); }
  function say(box, ok, text) { box.textContent = text || ""; box.className = "scan-result " + (ok ? "ok" : "bad"); F.beep(ok); }
  function msg(res) { var b = res.body || {}; return b.message || b.detail || b.title || ("HTTP " + res.status); }
  function link(href, text) { var a = document.createElement("a"); a.href = href; a.textContent = text; a.target = "_blank"; return a; }

  var pack = document.querySelector("[data-floor-pack]");
  if (pack) {
    var t = function (k) { return pack.getAttribute("data-t-" + k) || k; };
    var lang = pack.getAttribute("data-lang"), input = el(pack, "[data-scan-input]"), result = el(pack, "[data-result]");
    var order = null;
    var render = function (p) {
      order = p;
      el(pack, "[data-order]").hidden = !p;
      if (!p) { return; }
      el(pack, "[data-order-number]").textContent = p.order + (p.warehouse ? " · " + p.warehouse : "");
      var ul = el(pack, "[data-lines]"); ul.innerHTML = "";
      p.lines.forEach(function (ln) {
        var li = document.createElement("li");
        li.textContent = ln.name + " (" + ln.sku + ") " + ln.packed + "/" + ln.quantity;
        if (ln.packed >= ln.quantity) { li.className = "done"; }
        ul.appendChild(li);
      });
      el(pack, "[data-box]").textContent = p.box ? t("box") + ": " + p.box.code + " (" + p.box.length_mm + "×" + p.box.width_mm + "×" + p.box.height_mm + ")" : "";
      var w = el(pack, "[data-weights]");
      if (!w.value && p.weight_g) { w.value = String(Math.max(1, p.weight_g)); }
      el(pack, "[data-prompt]").textContent = p.status === "packed" ? t("closed") : (p.complete ? t("weight") : t("item"));
      var docs = el(pack, "[data-docs]"); docs.innerHTML = "";
      (p.parcels || []).forEach(function (pc) {
        var li = document.createElement("li");
        li.appendChild(link("/api/v1/floor/parcels/" + pc.id + "/label.pdf", t("label") + " " + pc.tracking + " (PDF)"));
        li.appendChild(document.createTextNode(" · "));
        li.appendChild(link("/api/v1/floor/parcels/" + pc.id + "/label.zpl", "ZPL"));
        docs.appendChild(li);
      });
      if ((p.parcels || []).length) {
        var li = document.createElement("li");
        li.appendChild(link("/api/v1/floor/orders/" + p.order_id + "/slip.pdf?lang=" + lang + (p.warehouse ? "&warehouse=" + encodeURIComponent(p.warehouse) : ""), t("slip") + " (PDF)"));
        docs.appendChild(li);
      }
    };
    // an order shipped from two warehouses: the packer says which one packs here (one button each)
    var choose = el(pack, "[data-choose]");
    var openPack = function (raw, warehouse) {
      choose.innerHTML = ""; choose.hidden = true;
      var url = "/api/v1/floor/pack?lang=" + lang + "&code=" + encodeURIComponent(raw) + (warehouse ? "&warehouse=" + encodeURIComponent(warehouse) : "");
      fetch(url, {credentials: "same-origin"})
        .then(function (r) { return r.json().then(function (j) { return {status: r.status, body: j}; }); })
        .then(function (res) {
          if (res.status === 200) { say(result, true, res.body.order + " · " + res.body.warehouse); render(res.body); input.focus(); return; }
          say(result, false, msg(res));
          if (res.body.code === "floor.pack_choose_warehouse") {
            (res.body.params.warehouses || []).forEach(function (code) {
              var b = document.createElement("button");
              b.type = "button"; b.className = "btn btn-primary"; b.textContent = code; b.setAttribute("data-warehouse", code);
              b.addEventListener("click", function () { openPack(raw, code); });
              choose.appendChild(b);
            });
            choose.hidden = false;
          }
          input.focus();
        }, function () { say(result, false, t("offline")); });
    };
    el(pack, "[data-scan-form]").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var raw = input.value; input.value = "";
      if (!raw.trim()) { return; }
      if (!order || order.status !== "picked" || order.complete && order.parcels.length) {
        openPack(raw, null);
        return;
      }
      F.post("/api/v1/floor/pack/" + order.order_id + "/scans?lang=" + lang, {op_id: F.opId(), raw: raw, warehouse: order.warehouse}).then(function (res) {
        if (res.status === 200) { say(result, res.body.ok, res.body.message); render(res.body.pack); } else { say(result, false, msg(res)); }
        input.focus();
      }, function () { say(result, false, t("offline")); });
    });
    el(pack, "[data-close-form]").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!order) { return; }
      var weights = el(pack, "[data-weights]").value.split(/[,;\s]+/).filter(Boolean).map(function (x) { return parseInt(x, 10); });
      var n = parseInt(el(pack, "[data-parcel-count]").value, 10) || 1;
      var parcels = [];
      for (var i = 0; i < n; i++) {
        var w = weights[i] || weights[weights.length - 1] || 1;
        parcels.push({weight_g: w, box_code: order.box ? order.box.code : "",
                      length_mm: order.box ? order.box.length_mm : 0, width_mm: order.box ? order.box.width_mm : 0,
                      height_mm: order.box ? order.box.height_mm : 0});
      }
      F.post("/api/v1/floor/pack/" + order.order_id + "/close?lang=" + lang, {op_id: F.opId(), parcels: parcels, warehouse: order.warehouse}).then(function (res) {
        say(result, res.status === 200, msg(res));
        if (res.status === 200) {
          order.status = "packed";  // the next scan opens the next packing, even before the view below is back
          var closed = order;
          fetch("/api/v1/floor/pack?code=" + encodeURIComponent("#" + order.order_id) + "&warehouse=" + encodeURIComponent(order.warehouse), {credentials: "same-origin"})
            .then(function (r) { return r.json(); })
            .then(function (view) { if (order === closed) { render(view); } });  // not over the next packing
        }
        input.focus();
      }, function () { say(result, false, t("offline")); });
    });
  }

  var hand = document.querySelector("[data-floor-handover]");
  if (hand) {
    var th = function (k) { return hand.getAttribute("data-t-" + k) || k; };
    var hlang = hand.getAttribute("data-lang"), wh = hand.getAttribute("data-warehouse");
    var hinput = el(hand, "[data-scan-input]"), hres = el(hand, "[data-result]");
    var manifest = null;
    var list = function (ul, items) {
      ul.innerHTML = "";
      items.forEach(function (p) { var li = document.createElement("li"); li.textContent = p.tracking + " · " + p.order; ul.appendChild(li); });
    };
    var show = function (m) {
      manifest = m;
      el(hand, "[data-manifest-title]").textContent = "M-" + ("000000" + m.id).slice(-6) + " · " + m.carrier + " · " + m.status;
      list(el(hand, "[data-scanned]"), m.scanned || []);
      list(el(hand, "[data-waiting]"), m.status === "open" ? (m.waiting || []) : (m.missing || []));
      var docs = el(hand, "[data-docs]"); docs.innerHTML = "";
      if (m.status === "closed") { docs.appendChild(link("/api/v1/floor/manifests/" + m.id + "/manifest.pdf?lang=" + hlang, th("pdf"))); }
    };
    el(hand, "[data-open-form]").addEventListener("submit", function (ev) {
      ev.preventDefault();
      F.post("/api/v1/floor/manifests", {warehouse: wh, carrier: el(hand, "[data-carrier]").value}).then(function (res) {
        if (res.status === 200) { show(res.body); } else { say(hres, false, msg(res)); }
        hinput.focus();
      });
    });
    el(hand, "[data-scan-form]").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var raw = hinput.value; hinput.value = "";
      if (!raw.trim() || !manifest) { return; }
      F.post("/api/v1/floor/manifests/" + manifest.id + "/scans?lang=" + hlang, {op_id: F.opId(), raw: raw}).then(function (res) {
        if (res.status === 200) { say(hres, res.body.ok, res.body.message); show(res.body.manifest); } else { say(hres, false, msg(res)); }
        hinput.focus();
      }, function () { say(hres, false, th("offline")); });
    });
    el(hand, "[data-close]").addEventListener("click", function () {
      if (!manifest) { return; }
      F.post("/api/v1/floor/manifests/" + manifest.id + "/close?lang=" + hlang, {op_id: F.opId()}).then(function (res) {
        say(hres, res.status === 200, msg(res));
        fetch("/api/v1/floor/manifests/" + manifest.id, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(show);
      });
    });
  }
})();
// the floor board refreshes itself
(function () {
  "use strict";
  var box = document.querySelector("[data-refresh]");
  if (!box) { return; }
  var s = parseInt(box.getAttribute("data-refresh"), 10) || 30;
  setTimeout(function () { window.location.reload(); }, s * 1000);
})();
