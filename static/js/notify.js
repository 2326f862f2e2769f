// "Tell me when it's ready": a system notification when a watched job ends.
//
// The page already polls each running job (htmx swaps its status element); this script notes
// each watched element's state and, when one goes from running to ready or failed, shows a
// notification if the person opted in (kept on the server) and the browser allows it. The
// permission is asked for only after the person clicks the button. Any element with
// data-notify-job, data-state, data-title and data-url is watched, so a page listing many jobs
// (a batch) works the same way as a single video's page.
(function () {
  "use strict";
  const control = document.getElementById("notify-control");
  if (!control) return;
  const form = control.querySelector("form");
  const button = control.querySelector("button");
  const note = control.querySelector(".notify-note");
  const supported = "Notification" in window;
  let optedIn = control.dataset.on === "true";
  const known = new Map();
  const ENDED = { ready: "is ready", failed: "failed" };

  function render() {
    if (!supported) {
      button.hidden = true;
      note.textContent = "This browser can't show notifications; the tab title still shows the status.";
      return;
    }
    const permission = Notification.permission;
    if (optedIn && permission === "granted") {
      button.textContent = "Stop telling me";
      note.textContent = "We'll tell you when it's ready, even in another tab.";
    } else if (optedIn && permission === "denied") {
      button.textContent = "Stop telling me";
      note.textContent = "Your browser blocks notifications from this site; the tab title still shows the status.";
    } else {
      button.textContent = "Tell me when it's ready";
      note.textContent = optedIn ? "Click to let this browser show notifications." : "";
    }
  }

  function save(on) {
    const body = new FormData(form);
    body.set("when_done", on ? "on" : "off");
    return fetch(form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) throw new Error("not saved");
      optedIn = on;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const turningOn = !(optedIn && supported && Notification.permission !== "default");
    if (!turningOn) {
      save(false).then(render, render);
      return;
    }
    // Asked here, in the click, never on page load.
    const asked = supported && Notification.permission === "default"
      ? Notification.requestPermission()
      : Promise.resolve(supported ? Notification.permission : "denied");
    Promise.all([save(true), asked]).then(render, render);
  });

  function scan(announce) {
    document.querySelectorAll("[data-notify-job]").forEach(function (el) {
      const id = el.dataset.notifyJob;
      const state = el.dataset.state;
      const before = known.get(id);
      known.set(id, state);
      if (!announce || !before || before === state || ENDED[before] || !ENDED[state]) return;
      if (!optedIn || !supported || Notification.permission !== "granted") return;
      const shown = new Notification("Video #" + id + " " + ENDED[state], {
        body: el.dataset.title || "",
        tag: "video-" + id,
      });
      shown.onclick = function () {
        window.focus();
        window.location.assign(el.dataset.url);
        shown.close();
      };
    });
  }

  document.body.addEventListener("htmx:afterSettle", function () { scan(true); });
  scan(false);
  render();
})();
