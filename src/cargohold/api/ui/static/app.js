/* cargohold web UI: progressive enhancement only. Every action also works as a plain HTML form without
   this file; here we add drag-and-drop reordering, inline connection-test results, confirmations, and
   keep the keyboard focus on the control that was used across the POST-redirect-GET reload. */
(function () {
  "use strict";
  var FOCUS_KEY = "cargohold.focus";

  function csrfToken() {
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  function remember(proxy, control) {
    try { sessionStorage.setItem(FOCUS_KEY, JSON.stringify({ proxy: proxy, control: control, path: location.pathname })); } catch (e) { /* private mode */ }
  }

  function restoreFocus() {
    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(FOCUS_KEY) || "null"); sessionStorage.removeItem(FOCUS_KEY); } catch (e) { saved = null; }
    var summary = document.querySelector("[data-autofocus]");
    if (summary) { summary.focus(); return; }
    if (!saved || saved.path !== location.pathname) return;
    var row = document.getElementById("proxy-" + saved.proxy);
    if (!row) return;
    var target = saved.control ? row.querySelector('[data-control="' + saved.control + '"]:not(:disabled)') : null;
    if (!target && (saved.control === "up" || saved.control === "down")) {
      target = row.querySelector('[data-control="up"]:not(:disabled), [data-control="down"]:not(:disabled)');
    }
    (target || row.querySelector("[data-control]:not(:disabled), a, button"))?.focus();
  }

  /* up/down buttons and switches: remember which one was pressed so the keyboard user can keep going */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    var row = form.closest("[data-proxy]");
    if (row && submitter && submitter.hasAttribute("data-control")) {
      remember(row.getAttribute("data-proxy"), submitter.getAttribute("data-control"));
    }
    var probeButton = submitter && submitter.hasAttribute("data-probe-button");
    if (form.hasAttribute("data-probe") || probeButton) {
      event.preventDefault();
      runProbe(form, submitter);
    }
  });

  /* connection test: post the form, show the result block of the answer next to the control */
  function runProbe(form, submitter) {
    var slot = (form.closest("[data-proxy]") || form).querySelector("[data-probe-slot]");
    var button = submitter || form.querySelector("button");
    var data = new FormData(form);
    if (submitter && submitter.name) data.set(submitter.name, submitter.value);
    if (button) { button.setAttribute("aria-busy", "true"); button.disabled = true; }
    if (slot) slot.innerHTML = '<p class="muted small" role="status">Testing…</p>';
    fetch(form.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var result = page.getElementById("probe-result") || page.querySelector(".error-summary, .card");
        if (!slot) return;
        slot.innerHTML = "";
        if (result) {
          result.removeAttribute("id");
          result.setAttribute("role", "status");
          slot.appendChild(document.importNode(result, true));
        }
      })
      .catch(function () { if (slot) slot.innerHTML = '<p class="field-error" role="alert">The test could not be run. Check the server and try again.</p>'; })
      .finally(function () { if (button) { button.removeAttribute("aria-busy"); button.disabled = false; } });
  }

  /* drag and drop reordering with pointer events (mouse, pen and touch); Escape cancels */
  function sortable(list) {
    var base = list.getAttribute("data-move-base");
    list.addEventListener("pointerdown", function (event) {
      var handle = event.target.closest("[data-drag-handle]");
      if (!handle || event.button !== 0) return;
      var item = handle.closest("li");
      var items = function () { return Array.prototype.slice.call(list.children); };
      var start = items().indexOf(item);
      var original = item.nextElementSibling;
      event.preventDefault();
      item.classList.add("is-dragging");
      list.classList.add("is-sorting");

      function onMove(moveEvent) {
        var others = items().filter(function (other) { return other !== item; });
        var index = others.filter(function (other) {
          var box = other.getBoundingClientRect();
          return box.top + box.height / 2 < moveEvent.clientY;
        }).length;
        var reference = others[index] || null;
        if (item.nextElementSibling !== reference) list.insertBefore(item, reference);
      }
      function finish(commit) {
        document.removeEventListener("pointermove", onMove);
        document.removeEventListener("pointerup", onUp);
        document.removeEventListener("pointercancel", onCancel);
        document.removeEventListener("keydown", onKey);
        item.classList.remove("is-dragging");
        list.classList.remove("is-sorting");
        var end = items().indexOf(item);
        if (!commit || end === start) { list.insertBefore(item, original); return; }
        save(item.getAttribute("data-proxy"), end + 1);
      }
      function onUp() { finish(true); }
      function onCancel() { finish(false); }
      function onKey(keyEvent) { if (keyEvent.key === "Escape") finish(false); }
      /* on the document: moving the row in the DOM releases any pointer capture of its handle */
      document.addEventListener("pointermove", onMove);
      document.addEventListener("pointerup", onUp);
      document.addEventListener("pointercancel", onCancel);
      document.addEventListener("keydown", onKey);
    });

    function save(proxy, position) {
      var data = new FormData();
      data.set("csrf_token", csrfToken());
      data.set("position", String(position));
      /* the version of the list this page shows: a list changed meanwhile is not reordered (412) */
      if (list.getAttribute("data-etag")) data.set("etag", list.getAttribute("data-etag"));
      list.setAttribute("aria-busy", "true");
      remember(proxy, null);
      /* manual redirect: the 303 sets the flash cookie, and the reload below shows the new order */
      fetch(base + "/" + encodeURIComponent(proxy) + "/move", { method: "POST", body: data, credentials: "same-origin", redirect: "manual" })
        .finally(function () { window.location.reload(); });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-sortable]"), sortable);
  });
  /* after load: the browser's own scroll to the #proxy-… fragment would otherwise reset the focus */
  window.addEventListener("load", function () { window.setTimeout(restoreFocus, 0); });
  /* a new access token: copy it with one click (the secret is only ever in this one page) */
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    var label = button.querySelector("[data-copy-label]") || button;
    function done(text) { label.textContent = text; setTimeout(function () { label.textContent = "Copy"; }, 2000); }
    field.focus();
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { done("Copied"); }, function () { done(document.execCommand("copy") ? "Copied" : "Press Ctrl+C"); });
    } else {
      done(document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
    }
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) event.target.select();
  });
})();
