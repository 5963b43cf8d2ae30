// Shoal admin UI: a little progressive enhancement. Every page works
// without it; with it, uploads show progress, status pages refresh
// themselves and destructive buttons ask first.
(function () {
  "use strict";

  // Ask before destructive actions.
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var q = f.getAttribute("data-confirm");
    if (q && !window.confirm(q)) {
      ev.preventDefault();
      return;
    }
    var busy = f.getAttribute("data-busy");
    if (busy && !f.hasAttribute("data-upload")) {
      var b = f.querySelector("button[type=submit]");
      if (b) {
        // Disable after the submit has captured the button's value.
        setTimeout(function () { b.disabled = true; b.textContent = busy; }, 0);
      }
    }
  });

  // Show only the action field the chosen action needs.
  function actionFields(form) {
    var sel = form.querySelector("select[name=action]");
    if (!sel) { return; }
    function sync() {
      form.querySelectorAll("[data-action]").forEach(function (el) {
        el.hidden = el.getAttribute("data-action") !== sel.value;
      });
    }
    sel.addEventListener("change", sync);
    sync();
  }

  // Upload with a progress bar; the server answers JSON to this request.
  function upload(form) {
    actionFields(form);
    var box = form.querySelector(".upload-progress");
    var bar = form.querySelector("progress");
    var text = form.querySelector(".upload-text");
    var formErr = form.querySelector(".form-error");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      form.querySelectorAll(".field-error.js").forEach(function (e) { e.remove(); });
      formErr.hidden = true;
      var btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      box.hidden = false;
      var xhr = new XMLHttpRequest();
      // form.action would be the select named "action".
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", form.querySelector("input[name=_csrf]").value);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          bar.max = e.total;
          bar.value = e.loaded;
          text.textContent = Math.floor(100 * e.loaded / e.total) + "% of " + (e.total / 1048576).toFixed(1) + " MiB";
        }
      };
      xhr.upload.onload = function () { text.textContent = "Uploaded; building fragments and signing the manifest…"; };
      xhr.onload = function () {
        var r = {};
        try { r = JSON.parse(xhr.responseText); } catch (e) { r = { error: "Unexpected answer from central (HTTP " + xhr.status + ")." }; }
        if (xhr.status < 300 && r.redirect) {
          window.location.assign(r.redirect);
          return;
        }
        btn.disabled = false;
        box.hidden = true;
        var errs = r.errors || {};
        Object.keys(errs).forEach(function (name) {
          var input = form.querySelector("[name='" + name + "']");
          var span = document.createElement("span");
          span.className = "field-error js";
          span.setAttribute("role", "alert");
          span.textContent = errs[name];
          if (input && input.parentNode) { input.parentNode.appendChild(span); } else { formErr.hidden = false; formErr.textContent = errs[name]; }
        });
        if (r.error) { formErr.hidden = false; formErr.textContent = r.error; }
      };
      xhr.onerror = function () {
        btn.disabled = false;
        formErr.hidden = false;
        formErr.textContent = "The upload failed: central could not be reached.";
      };
      xhr.send(new FormData(form));
    });
  }

  // Live refresh of a status page from its JSON fragment endpoint.
  function poll(root) {
    var url = root.getAttribute("data-poll");
    var every = (parseInt(root.getAttribute("data-every"), 10) || 3) * 1000;
    var targets = { counts: "st-counts", rows: "st-rows", pager: "st-pager", charts: "st-charts" };
    var timer = null;
    function schedule(ms) { timer = window.setTimeout(tick, ms); }
    function tick() {
      if (document.hidden) { schedule(every); return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (res) {
          if (res.status === 401) { window.location.reload(); throw new Error("logged out"); }
          if (!res.ok) { throw new Error("HTTP " + res.status); }
          return res.json();
        })
        .then(function (d) {
          Object.keys(targets).forEach(function (k) {
            var el = document.getElementById(targets[k]);
            if (el && typeof d[k] === "string") { el.innerHTML = d[k]; }
          });
          var up = document.getElementById("st-updated");
          if (up) { up.textContent = d.updated; }
          schedule(d.done ? every * 5 : every);
        })
        .catch(function () { schedule(every * 3); });
    }
    schedule(every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload]").forEach(upload);
    document.querySelectorAll("form.bulk").forEach(actionFields);
    // A header checkbox ticks every row's checkbox of its name.
    document.querySelectorAll("[data-select-all]").forEach(function (all) {
      all.addEventListener("change", function () {
        var name = all.getAttribute("data-select-all");
        document.querySelectorAll("input[type=checkbox][name=" + name + "]").forEach(function (b) { b.checked = all.checked; });
      });
    });
    document.querySelectorAll("[data-poll]").forEach(poll);
  });
})();
