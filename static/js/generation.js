// Generation page: "Play together" starts every take from the beginning at the same moment.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element) || !event.target.closest("#play-takes")) return;
    const takes = Array.from(document.querySelectorAll("video.take"));
    takes.forEach(function (video) { video.pause(); video.currentTime = 0; });
    takes.forEach(function (video) { video.play().catch(function () {}); });
  });
})();

// A video with sound plays with sound on its page; this button (beside the player's own volume
// control) turns it off and on, and follows the player when its own control is used.
(function () {
  "use strict";
  function playerOf(button) {
    return document.getElementById(button.getAttribute("aria-controls") || "");
  }
  function show(button, video) {
    button.setAttribute("aria-pressed", String(!video.muted));
    button.textContent = video.muted ? "Sound off" : "Sound on";
  }
  function wire(root) {
    root.querySelectorAll("button.sound-toggle").forEach(function (button) {
      const video = playerOf(button);
      if (!(video instanceof HTMLVideoElement) || button.dataset.wired) return;
      button.dataset.wired = "1";
      button.hidden = false;
      show(button, video);
      video.addEventListener("volumechange", function () { show(button, video); });
    });
  }
  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest("button.sound-toggle") : null;
    const video = button ? playerOf(button) : null;
    if (!(video instanceof HTMLVideoElement)) return;
    video.muted = !video.muted;
    show(button, video);
  });
  document.addEventListener("DOMContentLoaded", function () { wire(document); });
  document.addEventListener("htmx:load", function (event) {
    if (event.target instanceof Element) wire(event.target);
  });
})();
