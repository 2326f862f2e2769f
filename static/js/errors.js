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

  document.addEventListener("htmx:responseError", function (event) { say(sentence(event.detail.xhr)); });
  document.addEventListener("htmx:sendError", function () { say(UNREACHABLE); });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) clear();
  });
})();
