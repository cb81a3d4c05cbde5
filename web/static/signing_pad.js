// Signing page: signature pad (pointer events: finger, pen, mouse) and form checks.
// Served from /sign/static/ so the page's CSP can forbid inline scripts.
(function () {
  "use strict";
  var form = document.getElementById("sign-form");
  if (!form) { return; }
  var canvas = document.getElementById("pad");
  var ctx = canvas.getContext("2d");
  var hidden = document.getElementById("signature_png");
  var drawBox = document.getElementById("draw-box");
  var typeBox = document.getElementById("type-box");
  var typed = document.getElementById("typed_name");
  var padError = document.getElementById("pad-error");
  var submit = document.getElementById("submit");
  var blankText = padError.textContent;
  // The server's limits (contracts/signing.py): a pixel is ink when its alpha is over
  // 40 of 255, and a signature inks between 0.5 % and 40 % of the pad.
  var INK_ALPHA = 40, MIN_INK = 0.005, MAX_INK = 0.40;
  var inked = 0;
  var drawing = false;
  var last = null;

  function fit() {
    // Keep the bitmap at most 900 px wide so the upload stays small.
    var ratio = Math.min(window.devicePixelRatio || 1, 2);
    var width = Math.min(Math.round(canvas.clientWidth * ratio), 900);
    var height = Math.round(width * canvas.clientHeight / Math.max(canvas.clientWidth, 1));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      inked = 0;
    }
    ctx.lineWidth = Math.max(2, width / 150);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#000";
  }

  function point(event) {
    var rect = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left) * canvas.width / rect.width,
      y: (event.clientY - rect.top) * canvas.height / rect.height
    };
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = true;
    last = point(event);
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    event.preventDefault();
    var p = point(event);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    inked += Math.abs(p.x - last.x) + Math.abs(p.y - last.y);
    last = p;
  });
  function stop() { drawing = false; last = null; }
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);

  document.getElementById("clear").addEventListener("click", function () {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    inked = 0;
  });

  function inkShare() {
    var data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    var count = 0;
    for (var i = 3; i < data.length; i += 4) {
      if (data[i] > INK_ALPHA) { count += 1; }
    }
    return count / Math.max(canvas.width * canvas.height, 1);
  }

  function refuse(event, text) {
    event.preventDefault();
    padError.textContent = text;
    padError.hidden = false;
  }

  function mode() {
    var checked = form.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "draw";
  }
  function showMode() {
    var draw = mode() === "draw";
    drawBox.hidden = !draw;
    typeBox.hidden = draw;
    typed.required = !draw;
  }
  Array.prototype.forEach.call(form.querySelectorAll("input[name=mode]"), function (radio) {
    radio.addEventListener("change", showMode);
  });

  form.addEventListener("submit", function (event) {
    padError.hidden = true;
    if (mode() === "draw") {
      if (inked < 20) {
        refuse(event, blankText);
        return;
      }
      var share = inkShare();
      if (share < MIN_INK) {
        refuse(event, padError.getAttribute("data-faint") || blankText);
        return;
      }
      if (share > MAX_INK) {
        refuse(event, padError.getAttribute("data-heavy") || blankText);
        return;
      }
      hidden.value = canvas.toDataURL("image/png");
    } else {
      hidden.value = "";
    }
    submit.disabled = true;
    submit.textContent = submit.getAttribute("data-working");
  });

  window.addEventListener("resize", fit);
  fit();
  showMode();
}());
