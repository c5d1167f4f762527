// tickwork dashboard: the next fires of the schedule being typed on the edit form, with their
// daylight-saving notes (a skipped or repeated hour, a new UTC offset). The page
// lists them without this script too (from the saved or sent values).
(function () {
  "use strict";
  var WAIT_MS = 300; // after the last keystroke
  var timer = null;
  var asked = 0;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  }

  function show(fires) {
    var list = document.getElementById("preview-list");
    if (!list) { return; }
    list.textContent = "";
    fires.forEach(function (fire) {
      var item = document.createElement("li");
      item.textContent = fire;
      list.appendChild(item);
    });
  }

  function update(form) {
    var schedule = form.querySelector("[name=schedule]").value.trim();
    var zone = form.querySelector("[name=timezone]").value.trim() || "UTC";
    if (!schedule) {
      text("preview-words", "no schedule: it runs when triggered or enqueued");
      text("preview-error", "");
      show([]);
      return;
    }
    var mine = ++asked; // answers may arrive out of order: only the last one counts
    var url = form.getAttribute("data-preview-url") + "?" + new URLSearchParams({
      expression: schedule, timezone: zone, count: "5"
    }).toString();
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (mine !== asked) { return; }
        if (body.error) {
          text("preview-words", "");
          text("preview-error", body.error.message);
          show([]);
          return;
        }
        text("preview-words", body.words);
        text("preview-error", "");
        show(body.items.map(function (item) {
          var line = item.fire_at.replace("T", " ");
          return item.notes.length ? line + " — " + item.notes.join("; ") : line;
        }));
      })
      .catch(function () { text("preview-error", "the preview is unavailable"); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("edit-form");
    if (!form || !form.getAttribute("data-preview-url")) { return; }
    ["schedule", "timezone"].forEach(function (name) {
      var field = form.querySelector("[name=" + name + "]");
      if (!field) { return; }
      field.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { update(form); }, WAIT_MS);
      });
    });
  });
})();
