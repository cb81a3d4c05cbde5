// The phone coding page: CodeMirror on the textarea, drafts saved as the candidate
// types, "run the examples" any number of times (up to the server's cap), "submit" once.
(function () {
  "use strict";
  var page = document.getElementById("page");
  var token = page.getAttribute("data-token");
  var texts = JSON.parse(page.getAttribute("data-texts"));
  var status = document.getElementById("status");
  var results = document.getElementById("results");
  var runButton = document.getElementById("run");
  var submitButton = document.getElementById("submit");
  var editor = window.CodeMirror.fromTextArea(document.getElementById("code"), {
    mode: page.getAttribute("data-mode"),
    lineNumbers: true,
    indentUnit: 4,
    viewportMargin: Infinity,
  });
  var timer = null;
  var closed = false;

  function post(path, body) {
    return fetch("/code/" + encodeURIComponent(token) + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    }).then(function (response) {
      return response.json().then(function (data) {
        return { ok: response.ok, data: data };
      });
    });
  }

  function close(message) {
    closed = true;
    status.textContent = message;
    runButton.disabled = true;
    submitButton.disabled = true;
    editor.setOption("readOnly", true);
  }

  function saveDraft() {
    if (closed) return;
    post("/draft", { code: editor.getValue() }).then(function (r) {
      if (r.ok) status.textContent = texts.saved;
      else if (r.data.error === "closed" || r.data.error === "expired") close(r.data.message);
    });
  }

  editor.on("change", function () {
    if (timer) clearTimeout(timer);
    timer = setTimeout(saveDraft, 800);
  });

  runButton.addEventListener("click", function () {
    status.textContent = texts.running;
    runButton.disabled = true;
    post("/run", { code: editor.getValue() }).then(function (r) {
      runButton.disabled = closed;
      if (!r.ok) {
        status.textContent = r.data.message || r.data.error;
        return;
      }
      status.textContent = r.data.verdict || r.data.message || "";
      var lines = r.data.tests.map(function (t) {
        return t.name + ": " + t.verdict + " (" + t.seconds + " s)" + (t.detail ? "\n" + t.detail : "");
      });
      if (r.data.compile_output) lines.push(r.data.compile_output);
      results.textContent = lines.join("\n");
    });
  });

  submitButton.addEventListener("click", function () {
    if (!window.confirm(texts.confirm)) return;
    submitButton.disabled = true;
    post("/submit", { code: editor.getValue() }).then(function (r) {
      if (r.ok) close(r.data.message);
      else {
        submitButton.disabled = false;
        status.textContent = r.data.message || r.data.error;
        if (r.data.error === "closed" || r.data.error === "expired") close(r.data.message);
      }
    });
  });
})();
