// Sequence page: play the clips back to back in one player, moving on when each one ends.
(function () {
  "use strict";
  const player = document.getElementById("sequence-player");
  const items = Array.from(document.querySelectorAll("#sequence-clips li[data-src]"));
  const now = document.getElementById("sequence-now");
  if (!player || items.length === 0) return;
  let index = 0;

  function show(next, play) {
    index = next;
    items.forEach(function (item, i) { item.toggleAttribute("aria-current", i === index); });
    player.poster = items[index].dataset.poster || "";
    player.src = items[index].dataset.src;
    if (now) now.textContent = "Clip " + (index + 1) + " of " + items.length;
    if (play) player.play().catch(function () {});
  }

  player.addEventListener("ended", function () {
    if (index + 1 < items.length) show(index + 1, true);
  });
  items.forEach(function (item, i) {
    item.addEventListener("dblclick", function () { show(i, true); });
  });
  show(0, false);
})();
