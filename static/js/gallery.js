// Gallery: a ready card previews its video, muted, while it is hovered or focused.
(function () {
  "use strict";
  const calm = window.matchMedia("(prefers-reduced-motion: reduce)");

  function previewOf(target) {
    const link = target instanceof Element ? target.closest(".card-link") : null;
    return link ? link.querySelector("video.hover-preview") : null;
  }

  function start(event) {
    const video = previewOf(event.target);
    if (!video || calm.matches) return;
    if (!video.src) video.src = video.dataset.src;
    video.classList.add("playing");
    const playing = video.play();
    if (playing) playing.catch(function () { video.classList.remove("playing"); });
  }

  function stop(event) {
    const video = previewOf(event.target);
    if (!video || (event.relatedTarget && video.closest(".card-link").contains(event.relatedTarget))) return;
    video.pause();
    video.classList.remove("playing");
  }

  document.addEventListener("mouseover", start);
  document.addEventListener("focusin", start);
  document.addEventListener("mouseout", stop);
  document.addEventListener("focusout", stop);
})();
