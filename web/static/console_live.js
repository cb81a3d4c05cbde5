// HR console, live page: replaces the table's rows with what the server pushes (SSE).
(function () {
  "use strict";
  var body = document.getElementById("live-rows");
  if (!body || !window.EventSource) { return; }
  var source = new EventSource(body.getAttribute("data-src"));
  source.addEventListener("rows", function (e) {
    // The server sends escaped HTML table rows (web/console/live.py).
    body.innerHTML = e.data;
    body.setAttribute("data-updated", String(Date.now()));
  });
})();
