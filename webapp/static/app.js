// gridledger: small progressive enhancements. Loaded from this site only (CSP forbids inline scripts).
document.addEventListener("DOMContentLoaded", function () {
  // Buttons that change something for good ask first: <button data-confirm="…">. The question
  // is asked in the page (the <dialog id="confirm-dialog"> of base.html, in large text when
  // that is on), not by the browser's confirm() box: its small grey box and "OK" are easy to
  // miss or misread. "Yes" sends the form with the button pressed; "No" or Esc sends nothing.
  var dialog = document.getElementById("confirm-dialog");
  var pending = null;
  if (dialog && typeof dialog.showModal === "function") {
    document.querySelectorAll("[data-confirm]").forEach(function (el) {
      el.addEventListener("click", function (event) {
        var form = el.form;
        if (!form || (!form.noValidate && !form.checkValidity())) { return; }  // the browser says what is missing first
        event.preventDefault();
        pending = el;
        document.getElementById("confirm-dialog-text").textContent = el.getAttribute("data-confirm");
        dialog.showModal();
        document.getElementById("confirm-no").focus();
      });
    });
    document.getElementById("confirm-yes").addEventListener("click", function () {
      var button = pending;
      pending = null;
      dialog.close();
      if (button && button.form) {
        if (typeof button.form.requestSubmit === "function") { button.form.requestSubmit(button); }
        else { button.form.submit(); }
      }
    });
    document.getElementById("confirm-no").addEventListener("click", function () {
      pending = null;
      dialog.close();
    });
    dialog.addEventListener("cancel", function () { pending = null; });
  }
  // A form that changes something is sent once: a second click while the first is on its way
  // (a slow chain write) would otherwise give a grant or a signature twice.
  document.querySelectorAll("form[method=post], form[method=POST]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent") === "1") { event.preventDefault(); return; }
      form.setAttribute("data-sent", "1");
      form.setAttribute("aria-busy", "true");
    });
  });
  // Coming back to a page from the browser's history: its forms may be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      form.removeAttribute("data-sent");
      form.removeAttribute("aria-busy");
    });
  });
  // Switching the language (or the text size) loads the page again: what was typed in its
  // forms is kept for this tab (sessionStorage, by path) just before, and put back once after.
  // Passwords, files, hidden fields and the CSRF token are never kept.
  var KEPT = "gridledger:kept:" + window.location.pathname;
  function keepable(field) {
    return field.name && !field.disabled && ["password", "file", "hidden", "submit", "button"].indexOf(field.type) < 0;
  }
  // A field the person already changed on this page (before this script ran) keeps their input.
  function changed(field) {
    if (field.type === "checkbox" || field.type === "radio") { return field.checked !== field.defaultChecked; }
    if (field.tagName === "SELECT" && field.multiple) {
      return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    if (field.tagName === "SELECT") {
      var first = Array.prototype.findIndex.call(field.options, function (o) { return o.defaultSelected; });
      return field.selectedIndex !== Math.max(first, 0);
    }
    return field.value !== field.defaultValue;
  }
  function typedForms() {
    return Array.prototype.filter.call(document.forms, function (form) { return !form.hasAttribute("data-keeps-forms"); });
  }
  document.querySelectorAll("form[data-keeps-forms]").forEach(function (switcher) {
    switcher.addEventListener("submit", function () {
      var saved = typedForms().map(function (form) {
        var fields = {};
        Array.prototype.forEach.call(form.elements, function (field) {
          if (!keepable(field)) { return; }
          if (field.type === "checkbox" || field.type === "radio") {
            if (field.checked) { (fields[field.name] = fields[field.name] || []).push(field.value); }
          } else if (field.tagName === "SELECT" && field.multiple) {
            fields[field.name] = Array.prototype.filter.call(field.options, function (o) { return o.selected; })
              .map(function (o) { return o.value; });
          } else {
            (fields[field.name] = fields[field.name] || []).push(field.value);
          }
        });
        return fields;
      });
      try { window.sessionStorage.setItem(KEPT, JSON.stringify(saved)); } catch (e) { /* storage off: nothing kept */ }
    });
  });
  var kept = null;
  try { kept = window.sessionStorage.getItem(KEPT); window.sessionStorage.removeItem(KEPT); } catch (e) { kept = null; }
  if (kept) {
    var saved = JSON.parse(kept);
    typedForms().forEach(function (form, index) {
      var fields = saved[index];
      if (!fields) { return; }
      var seen = {};
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!keepable(field) || !(field.name in fields) || changed(field)) { return; }
        var values = fields[field.name];
        if (field.type === "checkbox" || field.type === "radio") {
          field.checked = values.indexOf(field.value) >= 0;
        } else if (field.tagName === "SELECT" && field.multiple) {
          Array.prototype.forEach.call(field.options, function (o) { o.selected = values.indexOf(o.value) >= 0; });
        } else {
          var at = seen[field.name] || 0;
          if (at < values.length) { field.value = values[at]; }
          seen[field.name] = at + 1;
        }
      });
    });
  }
  // A print button: <button data-print>.
  document.querySelectorAll("[data-print]").forEach(function (el) {
    el.addEventListener("click", function () { window.print(); });
  });
});
