// tickwork dashboard: live updates and small interactions. No framework, no inline code (the
// pages are served under Content-Security-Policy: default-src 'self').
(function () {
  "use strict";

  // Events that change what a page shows; each one schedules a refresh of its live regions.
  var EVENTS = ["run.started", "run.finished", "run.progress", "run.event", "run.output", "job.created",
    "job.changed", "processor.up", "processor.down", "fire.missed"];
  // At most one refresh per this many milliseconds, however many events arrive.
  var REFRESH_MS = 1000;
  var pending = null;
  var inFlight = false;

  function setState(text, cls) {
    var el = document.getElementById("live-state");
    if (el) { el.textContent = text; el.className = "live-state " + (cls || ""); }
  }

  // Fetch this page again and swap every element marked data-live (matched by id): the
  // server renders once, the same way, whether the page is loaded or refreshed.
  function refresh() {
    pending = null;
    if (inFlight) { schedule(); return; }
    var regions = document.querySelectorAll("[data-live][id]");
    if (!regions.length) { return; }
    inFlight = true;
    fetch(window.location.href, { headers: { "X-Tickwork-Live": "1" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (region) {
          var next = fresh.getElementById(region.id);
          if (next && region.contains(document.activeElement) && document.activeElement.tagName === "INPUT") {
            return; // never replace a field someone is typing in
          }
          if (next) { region.innerHTML = next.innerHTML; }
        });
        document.dispatchEvent(new CustomEvent("tickwork:refreshed"));
      })
      .catch(function () { setState("reconnecting…", "warn"); })
      .then(function () { inFlight = false; });
  }

  function schedule() {
    if (pending === null) { pending = window.setTimeout(refresh, REFRESH_MS); }
  }

  function connect() {
    var source = document.body.getAttribute("data-live-source");
    if (!source || !window.EventSource) { setState("", ""); return; }
    var stream = new EventSource(source);
    // On each (re)connection the page is drawn again once: what changed between drawing it
    // and the stream's start (a run that began and ended meanwhile) sent no event to it.
    stream.onopen = function () { setState("live", "ok"); schedule(); };
    stream.onerror = function () { setState("reconnecting…", "warn"); };
    EVENTS.forEach(function (name) {
      stream.addEventListener(name, function (message) {
        document.dispatchEvent(new CustomEvent("tickwork:event", { detail: { type: name, data: message.data } }));
        schedule();
      });
    });
    stream.addEventListener("error", function (message) {
      if (message.data) { setState("session ended", "bad"); stream.close(); }
    });
  }

  // Output shown while a job runs follows its end, as a terminal does.
  document.addEventListener("tickwork:refreshed", function () {
    document.querySelectorAll("[data-live] pre.output").forEach(function (pre) {
      pre.scrollTop = pre.scrollHeight;
    });
  });

  // Forms that ask first (delete, bulk actions): data-confirm holds the question.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", connect);
})();
