// When a click or a poll sent by htmx fails, say so on the page: htmx swaps nothing on an error,
// so without this a Star or Cancel pressed while the database is down would seem to do nothing.
// The server's own plain sentence is shown when it sent one (the outage page's words for htmx).
(function () {
  "use strict";
  const FALLBACK = "Something went wrong and nothing was changed. Try again in a minute.";
  const UNREACHABLE = "The site could not be reached. Check your connection and try again.";

  function region() {
    let box = document.getElementById("request-problem");
    if (!box) {
      box = document.createElement("p");
      box.id = "request-problem";
      box.className = "message message-error";
      box.setAttribute("role", "alert");
      const main = document.getElementById("main");
      (main || document.body).prepend(box);
    }
    return box;
  }
  function say(text) { region().textContent = text; }
  function clear() {
    const box = document.getElementById("request-problem");
    if (box) box.remove();
  }
  function sentence(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    const text = (xhr.responseText || "").trim();
    // Only a short plain sentence is shown as it came; a page (HTML) gets the general words.
    return type.startsWith("text/plain") && text && text.length <= 300 ? text : FALLBACK;
  }

  // What failed, so the right success clears it: when the site itself was away (no answer, or the
  // outage's 503) any answer proves it is back; a refusal of one action (a 400, a 403) stays until
  // that same control succeeds, so a gallery poll two seconds later does not wipe it unread.
  let failed = null;

  document.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr.status;
    failed = { elt: event.detail.elt, siteAway: status === 502 || status === 503 || status === 504 };
    say(sentence(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function (event) {
    failed = { elt: event.detail.elt, siteAway: true };
    say(UNREACHABLE);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful || !failed) return;
    if (failed.siteAway || failed.elt === event.detail.elt) {
      failed = null;
      clear();
    }
  });
})();
