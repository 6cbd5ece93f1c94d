// The resident's messages: opening the page marks the messages it shows as read. The page
// itself writes nothing (a GET never does); this sends its "seen" form in the background
// and puts the new unread count in the header. Without scripts, the form's button does it.
(function () {
  "use strict";
  var form = document.getElementById("inbox-seen");
  if (!form || !window.fetch) return;
  fetch(form.action, {
    method: "POST",
    body: new FormData(form),
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (data) {
      if (!data) return;
      form.hidden = true;
      var all = document.getElementById("inbox-read-all-form");
      if (all && data.unread === 0) all.hidden = true;
      var count = document.getElementById("inbox-count");
      if (count && typeof data.unread === "number") {
        if (data.unread > 0) count.firstChild.nodeValue = String(data.unread);
        else count.remove();
      }
    })
    .catch(function () { /* the button stays: the resident can press it */ });
})();
