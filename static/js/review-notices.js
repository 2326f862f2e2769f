// Notices of new comments (review/notices.py): a system notification, like "Tell me when it's
// ready", for people who opted in there and allowed notifications in this browser. The page
// carries the opt-in in data-review-notices; while it is open, it asks every 30 s what is new.
(function () {
  "use strict";
  const holder = document.querySelector("[data-review-notices]");
  if (!holder || !("Notification" in window)) return;
  const url = holder.dataset.reviewNotices;
  const token = holder.dataset.csrf;
  let every = 30;

  function ask() {
    if (holder.dataset.on !== "true" || Notification.permission !== "granted") {
      window.setTimeout(ask, every * 1000);
      return;
    }
    fetch(url, { method: "POST", headers: { "X-CSRFToken": token }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { notices: [] }; })
      .then(function (data) {
        every = data.every || every;
        (data.notices || []).forEach(function (notice) {
          const shown = new Notification(notice.title, { body: notice.body, tag: notice.tag });
          shown.onclick = function () {
            window.focus();
            window.location.assign(notice.url);
            shown.close();
          };
        });
      })
      .catch(function () {})
      .finally(function () { window.setTimeout(ask, every * 1000); });
  }
  window.setTimeout(ask, 1000);
})();
