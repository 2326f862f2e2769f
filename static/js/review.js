// A video's review: comment markers on a strip under the player, seeking from a comment, and the
// comment form's moment filled in from where the video is paused.
//
// The markers come as compact JSON on the review section (review/comments.py markers(): comments
// counted per slice of the video), so drawing them is one SVG path per kind however many comments there are.
// window.reviewMarkers.draw() returns how long the drawing took (bench/review_page.py reads it).
(function () {
  "use strict";

  function player() { return document.querySelector("video.player"); }

  function moment(seconds) {
    const tenths = Math.round(seconds * 10);
    const minutes = Math.floor(tenths / 600);
    const rest = tenths - minutes * 600;
    const whole = Math.floor(rest / 10);
    return minutes + ":" + (whole < 10 ? "0" : "") + whole + "." + (rest % 10);
  }

  function draw() {
    const started = performance.now();
    const strip = document.getElementById("marker-strip");
    const section = document.getElementById("review");
    if (!strip || !section || !section.dataset.markers) return 0;
    const markers = JSON.parse(section.dataset.markers);
    const width = Math.max(1000 / markers.slices, 5);  // at least half a percent, to be seen and clicked
    const open = [];
    const resolved = [];
    markers.marks.forEach(function (mark) {
      const x = (mark[0] * 1000 / markers.slices).toFixed(1);
      const piece = "M" + x + " 0h" + width.toFixed(1) + "v12h-" + width.toFixed(1) + "z";
      (mark[2] > 0 ? open : resolved).push(piece);
    });
    strip.querySelector(".marks-open").setAttribute("d", open.join(""));
    strip.querySelector(".marks-resolved").setAttribute("d", resolved.join(""));
    strip.dataset.lengthMs = markers.length_ms;
    strip.dataset.drawn = String(markers.marks.length);
    return performance.now() - started;
  }

  function seek(seconds) {
    const video = player();
    if (!video) return;
    video.pause();
    video.currentTime = seconds;
    const at = document.getElementById("comment-at");
    if (at) at.value = moment(seconds);
  }

  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element)) return;
    const button = event.target.closest("button.seek");
    if (button) {
      const back = document.querySelector("a[data-video-page]");
      if (!player() && back) {
        // A page of comments without the player ("More comments" on its own): play the video there.
        window.location.href = back.href.split("#")[0] + "#at=" + Number(button.dataset.atMs);
        return;
      }
      seek(Number(button.dataset.atMs) / 1000);
      return;
    }
    const strip = event.target.closest("#marker-strip");
    if (strip) {
      const box = strip.getBoundingClientRect();
      const share = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      seek(share * Number(strip.dataset.lengthMs || 0) / 1000);
    }
  });

  // The moment follows the video while it is paused or moved; the person may still type one.
  function follow() {
    const video = player();
    const at = document.getElementById("comment-at");
    if (video && at && document.activeElement !== at) at.value = moment(video.currentTime);
  }
  document.addEventListener("pause", follow, true);
  document.addEventListener("seeked", follow, true);
  document.addEventListener("focusin", function (event) {
    if (event.target instanceof Element && event.target.id === "comment-text") {
      const video = player();
      if (video && !video.paused) video.pause();
      follow();
    }
  });

  // The review section is swapped whole (outerHTML): htmx:load fires on the new element, in the
  // page (a settle event would fire on the old one, already out of the document).
  document.addEventListener("htmx:load", function () { draw(); });
  // Arriving with "#at=<ms>" (from a comment on a page without the player): start there, paused.
  function arrive() {
    const asked = /^#at=(\d{1,9})$/.exec(window.location.hash);
    const video = player();
    if (!asked || !video) return;
    const go = function () { seek(Number(asked[1]) / 1000); };
    if (video.readyState >= 1) go(); else video.addEventListener("loadedmetadata", go, { once: true });
  }

  window.reviewMarkers = { draw: draw };
  draw();
  arrive();
})();
