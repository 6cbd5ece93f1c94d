// gridledger committee pages: search-as-you-type for a long list to choose from.
// A <select data-filter="placeholder"> gets a search box above it that narrows its options
// to those whose text holds what is typed (any part: name or log-in id). Without script the
// list works as it is: sorted by name, every option there. No inline script (the CSP).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select[data-filter]").forEach(function (select) {
    var all = Array.prototype.slice.call(select.options);
    var box = document.createElement("input");
    box.type = "search";
    box.id = select.id + "-filter";
    box.placeholder = select.getAttribute("data-filter");
    box.setAttribute("aria-label", select.getAttribute("data-filter"));
    box.setAttribute("aria-controls", select.id);
    box.autocomplete = "off";
    select.parentNode.insertBefore(box, select);
    box.addEventListener("input", function () {
      var needle = box.value.trim().toLowerCase();
      var chosen = select.value;
      while (select.options.length) { select.remove(0); }
      all.forEach(function (option) {
        var keep = option.value === "" || option.value === chosen ||
          !needle || option.text.toLowerCase().indexOf(needle) !== -1;
        if (keep) { select.add(option); }
      });
      var matches = all.filter(function (o) { return o.value !== "" && o.text.toLowerCase().indexOf(needle) !== -1; });
      if (needle && matches.length === 1) { select.value = matches[0].value; }
      else { select.value = chosen; }
    });
  });
});
