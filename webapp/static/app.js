// gridledger: small progressive enhancements. Loaded from this site only (CSP forbids inline scripts).
document.addEventListener("DOMContentLoaded", function () {
  // Buttons that change something for good ask first: <button data-confirm="…">.
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (event) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
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
  // A print button: <button data-print>.
  document.querySelectorAll("[data-print]").forEach(function (el) {
    el.addEventListener("click", function () { window.print(); });
  });
});
