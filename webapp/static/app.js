// gridledger: small progressive enhancements. Loaded from this site only (CSP forbids inline scripts).
document.addEventListener("DOMContentLoaded", function () {
  // Buttons that change something for good ask first: <button data-confirm="…">.
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (event) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  // A print button: <button data-print>.
  document.querySelectorAll("[data-print]").forEach(function (el) {
    el.addEventListener("click", function () { window.print(); });
  });
});
