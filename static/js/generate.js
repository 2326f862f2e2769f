// The Generate page: live prompt counter, drag-and-drop onto the file field, a preview of the
// picked image, and no double submits. The server checks everything again.
(function () {
  "use strict";
  const form = document.getElementById("generate-form");
  if (!form) return;

  // Count code points, as the server does (an emoji is one character, not two).
  const counter = document.querySelector("[data-counter-for]");
  const prompt = document.getElementById(counter.dataset.counterFor);
  const max = Number(prompt.dataset.max || 2000);
  function updateCounter() {
    const used = Array.from(prompt.value).length;
    counter.textContent = used.toLocaleString("en") + " / " + max.toLocaleString("en") + " characters";
    counter.classList.toggle("near-limit", used > max * 0.9 && used <= max);
    counter.classList.toggle("over-limit", used > max);
    if (used > max) counter.textContent += " — " + (used - max).toLocaleString("en") + " too many";
  }
  prompt.addEventListener("input", updateCounter);
  updateCounter();

  const zone = document.getElementById("dropzone");
  const input = zone.querySelector('input[type="file"]');
  const preview = document.getElementById("preview");
  const previewImg = document.getElementById("preview-img");
  const caption = document.getElementById("preview-caption");
  let objectUrl = null;

  function showPreview() {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    const file = input.files && input.files[0];
    if (!file) { preview.hidden = true; return; }
    objectUrl = URL.createObjectURL(file);
    previewImg.src = objectUrl;
    const size = file.size >= 1024 * 1024
      ? (file.size / 1024 / 1024).toFixed(1) + " MB"
      : Math.max(1, Math.round(file.size / 1024)) + " KB";
    caption.textContent = file.name + " · " + size;
    previewImg.onload = function () {
      caption.textContent += " · " + previewImg.naturalWidth + "×" + previewImg.naturalHeight;
    };
    preview.hidden = false;
  }
  input.addEventListener("change", showPreview);

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  // One click, one job: the server also recognises a resent form, this just saves a round trip.
  const button = document.getElementById("generate-button");
  form.addEventListener("submit", function () {
    button.disabled = true;
    button.textContent = "Sending…";
  });
  window.addEventListener("pageshow", function () {
    button.disabled = false;
    button.textContent = "Generate";
  });

  const errors = document.getElementById("form-errors");
  if (errors) errors.focus();
})();
