// Select mode (gallery and collection pages) and the collection page's drag-to-reorder.
// The cards' checkboxes belong to #bulk-form through their form attribute, so the server gets
// a plain form post; this script only shows them, counts them and offers "select all".
(function () {
  "use strict";
  const form = document.getElementById("bulk-form");
  const toggle = document.getElementById("select-toggle");
  if (!form || !toggle) return;
  const count = document.getElementById("selected-count");
  // The values in the order their boxes were ticked: "Add to collection" posts them in this order,
  // so they join the collection as the person picked them, not newest first as the gallery shows.
  const ticked = [];

  function noteTick(box) {
    const at = ticked.indexOf(box.value);
    if (at !== -1) ticked.splice(at, 1);
    if (box.checked) ticked.push(box.value);
  }

  function boxes() {
    return Array.from(document.querySelectorAll('.card-grid input[name="ids"][form="bulk-form"]'));
  }

  function recount() {
    const n = boxes().filter(function (box) { return box.checked; }).length;
    count.textContent = n === 0 ? "None selected" : n === 1 ? "1 video selected" : n + " videos selected";
    form.querySelectorAll('button[type="submit"]').forEach(function (button) {
      button.setAttribute("aria-disabled", n === 0 ? "true" : "false");
    });
  }

  function setSelecting(on) {
    document.body.classList.toggle("selecting", on);
    form.hidden = !on;
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.textContent = on ? "Done selecting" : "Select";
    if (!on) {
      boxes().forEach(function (box) { box.checked = false; });
      ticked.length = 0;
    }
    recount();
  }

  // The toggle is a link to ?select=1 for pages without JavaScript; here it switches in place.
  toggle.addEventListener("click", function (event) {
    event.preventDefault();
    setSelecting(form.hidden);
  });
  toggle.addEventListener("keydown", function (event) {
    if (event.key === " ") {  // a button's key, as role="button" promises
      event.preventDefault();
      setSelecting(form.hidden);
    }
  });
  if (!form.hidden) setSelecting(true);
  document.getElementById("select-page").addEventListener("click", function () {
    boxes().forEach(function (box) {
      if (!box.checked) {
        box.checked = true;
        noteTick(box);
      }
    });
    recount();
  });
  document.getElementById("select-none").addEventListener("click", function () {
    boxes().forEach(function (box) { box.checked = false; });
    ticked.length = 0;
    recount();
  });
  document.addEventListener("change", function (event) {
    if (event.target instanceof HTMLInputElement && event.target.name === "ids") {
      noteTick(event.target);
      recount();
    }
  });
  document.addEventListener("htmx:afterSettle", recount);

  // A card still being made replaces itself every few seconds; keep its box as the person left it.
  const keptChecked = new Set();
  // Cards come back out of band from the gallery's one poll, or in place elsewhere.
  function keep(event) {
    const box = event.detail.target && event.detail.target.querySelector('input[name="ids"][form="bulk-form"]');
    if (box && box.checked) keptChecked.add(box.value);
  }
  document.addEventListener("htmx:beforeSwap", keep);
  document.addEventListener("htmx:oobBeforeSwap", keep);
  // Put the ticks back in the same task as the swap (no frame ever shows the box unticked), and
  // once more after settling for a swap that brought the card in by another route.
  function restore() {
    keptChecked.forEach(function (value) {
      const box = document.querySelector('input[name="ids"][form="bulk-form"][value="' + value + '"]');
      if (box) box.checked = true;
    });
  }
  document.addEventListener("htmx:afterSwap", restore);
  document.addEventListener("htmx:oobAfterSwap", restore);
  document.addEventListener("htmx:afterSettle", function () {
    restore();
    keptChecked.clear();
    recount();
  });

  let submitter = null;
  form.addEventListener("submit", function (event) {
    submitter = event.submitter;
    if (!boxes().some(function (box) { return box.checked; })) {
      event.preventDefault();
      count.textContent = "Select at least one video first.";
      return;
    }
    // Come back to the filters as they are now (htmx may have changed the address since).
    form.elements.next.value = window.location.pathname + window.location.search;
  });
  // Fired after "submit", while the browser builds the posted fields (in the order shown). For a
  // button that keeps the ticking order, the ids are put in it; boxes ticked some other way (the
  // browser restoring a form) follow in the order shown. Other actions keep the page's order.
  form.addEventListener("formdata", function (event) {
    if (!submitter || !submitter.hasAttribute("data-tick-order")) return;
    const shown = event.formData.getAll("ids");
    const first = ticked.filter(function (value) { return shown.includes(value); });
    const rest = shown.filter(function (value) { return !first.includes(value); });
    event.formData.delete("ids");
    first.concat(rest).forEach(function (value) { event.formData.append("ids", value); });
  });
})();

// After a move, the moved card's button is focused again, so Earlier/Later can be pressed repeatedly.
document.addEventListener("htmx:afterSettle", function () {
  "use strict";
  const target = document.querySelector("#results [data-autofocus]");
  if (target) target.focus();
});

// Drag a card onto another to put it there (the Earlier/Later buttons do the same by keyboard).
(function () {
  "use strict";
  let dragged = null;

  function results() { return document.getElementById("results"); }

  document.addEventListener("dragstart", function (event) {
    const card = event.target instanceof Element ? event.target.closest(".sortable > .card-item[draggable]") : null;
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("dragging");
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
  });
  document.addEventListener("dragover", function (event) {
    if (dragged && event.target instanceof Element && event.target.closest(".sortable > .card-item")) {
      event.preventDefault();
    }
  });
  document.addEventListener("drop", function (event) {
    const target = event.target instanceof Element ? event.target.closest(".sortable > .card-item") : null;
    if (!dragged || !target || target === dragged) return;
    event.preventDefault();
    const cards = Array.from(target.parentElement.querySelectorAll(":scope > .card-item"));
    const downward = cards.indexOf(dragged) < cards.indexOf(target);
    // Moving down lands after the target, moving up before it (as in any sortable list).
    const values = { video: dragged.dataset.id };
    values[downward ? "after" : "before"] = target.dataset.id;
    window.htmx.ajax("POST", results().dataset.moveUrl, { target: "#results", swap: "outerHTML", values: values });
  });
})();
