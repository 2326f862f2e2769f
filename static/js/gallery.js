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
    // A preview never makes a sound, whatever the video holds; its page plays it with sound.
    video.muted = true;
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

// "Load more": once the next cards are in, move focus to the first of them, so a keyboard user
// carries on from where the list grew instead of starting again at the top of the page.
(function () {
  "use strict";
  let shownBefore = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail && event.detail.elt;
    if (elt instanceof Element && elt.closest(".load-more")) {
      shownBefore = document.querySelectorAll(".card-grid .card-item").length;
    }
  });
  // htmx:load fires on each newly added card (the swapped-out "Load more" item is detached,
  // so events on it never reach the document).
  document.addEventListener("htmx:load", function () {
    if (shownBefore === null) return;
    const links = document.querySelectorAll(".card-grid .card-item .card-link");
    if (links.length <= shownBefore) return;
    links[shownBefore].focus();
    shownBefore = null;
  });
})();

// The filter controls always show what the address says. htmx's Back/Forward restores a
// snapshot of the page's markup, and markup keeps the values the page was first served with,
// not what was typed or picked since; the browser's own Back (bfcache, form restore) can be
// just as out of step. So after any restore, each control is set from the address bar.
(function () {
  "use strict";
  const OFF = ["", "0", "false", "off"];

  function showAddress() {
    const form = document.getElementById("filters");
    if (!(form instanceof HTMLFormElement)) return;
    const params = new URLSearchParams(window.location.search);
    for (const control of Array.from(form.elements)) {
      if (!(control instanceof HTMLInputElement || control instanceof HTMLSelectElement) || !control.name) continue;
      const value = params.get(control.name);
      if (control instanceof HTMLInputElement && control.type === "checkbox") {
        control.checked = value !== null && !OFF.includes(value.toLowerCase());
      } else if (control instanceof HTMLSelectElement) {
        control.value = value === null ? "" : value;
        if (control.selectedIndex < 0) control.selectedIndex = 0; // a value the list no longer has
      } else {
        control.value = value === null ? "" : value;
      }
    }
  }

  document.addEventListener("htmx:historyRestore", showAddress);
  window.addEventListener("pageshow", showAddress);
  window.addEventListener("popstate", function () { window.setTimeout(showAddress, 0); });
})();
