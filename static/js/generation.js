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
