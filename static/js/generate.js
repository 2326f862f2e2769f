// The Generate page, for people rather than machines: a live prompt counter, drag and drop, a
// preview with the picture's size and ratio, and the first-frame rules checked right here,
// before anything is uploaded, in the same words the server uses. The server checks again and
// stays the judge; fixes are made there (see the "Show ways to fix it" button).
(function () {
  "use strict";
  const form = document.getElementById("generate-form");
  if (!form) return;

  // The limits come from the server (playground/pictures/fixing.browser_rules), never typed here.
  const RULES = JSON.parse(document.getElementById("picture-rules").textContent);
  const MAX_BYTES = RULES.max_bytes;
  const MIN_SHORT = RULES.min_short_side;
  const MAX_PIXELS = RULES.max_pixels;
  const button = document.getElementById("generate-button");
  const blocked = document.getElementById("generate-blocked");

  // --- Prompt counter: code points, as the server counts (an emoji is one character) ---------
  const counter = document.querySelector("[data-counter-for]");
  const prompt = document.getElementById(counter.dataset.counterFor);
  // The limit is the chosen model's (models.js changes data-max when the model changes).
  function updateCounter() {
    const max = Number(prompt.dataset.max);
    const used = Array.from(prompt.value).length;
    let text = used.toLocaleString("en") + " / " + max.toLocaleString("en") + " characters";
    if (used > max) text += " — " + (used - max).toLocaleString("en") + " too many";
    else if (used > max * 0.9) text += " — " + (max - used).toLocaleString("en") + " left";
    counter.textContent = text;
    counter.classList.toggle("near-limit", used > max * 0.9 && used <= max);
    counter.classList.toggle("over-limit", used > max);
  }
  prompt.addEventListener("input", updateCounter);
  form.addEventListener("model-fields-changed", updateCounter);
  updateCounter();

  // Whether the chosen model needs a first frame, and which fields it takes: see models.js.

  // --- Sentences: the same words as playground/pictures/rules.py ------------------------------
  // Round up to one or two decimals, as the server does, so 20 MB + 1 byte never reads "20".
  function decimal(numerator, denominator, places) {
    const scale = Math.pow(10, places);
    const scaled = Math.ceil((numerator * scale) / denominator);
    const whole = Math.floor(scaled / scale);
    const fraction = scaled % scale;
    const wholeText = whole.toLocaleString("en");
    if (fraction === 0) return wholeText;
    return (wholeText + "." + String(fraction).padStart(places, "0")).replace(/0+$/, "");
  }
  function times(longer, shorter) {
    const text = decimal(longer, shorter, 2);
    if ((longer * 100) % shorter) return "about " + text;
    return 2 * longer === 5 * shorter ? "exactly " + text : text;
  }
  const MB = 1024 * 1024;
  // The server's own sentences (pictures/rules.py), with their {named} places filled in here.
  function say(name, values) {
    return RULES.sentences[name].replace(/\{(\w+)\}/g, function (_, key) { return String(values[key]); });
  }
  function sizeSentence(size) {
    return say("too_big", { size: decimal(size, MB, 1), use: "send", limit: decimal(MAX_BYTES, MB, 1) });
  }
  function formatSentence(kind) {
    return kind ? say("wrong_kind", { kind: kind }) : say("not_a_picture", {});
  }
  function ruleSentences(w, h) {
    const out = [];
    if (2 * w >= 5 * h) {
      out.push(say("too_wide", { width: w, height: h, times: times(w, h) }));
    } else if (2 * h >= 5 * w) {
      out.push(say("too_tall", { width: w, height: h, times: times(h, w) }));
    }
    const shorter = Math.min(w, h);
    if (shorter <= MIN_SHORT) {
      out.push(say("short_side", { width: w, height: h, shorter: shorter, min_short: MIN_SHORT }));
    }
    return out;
  }
  function pixelSentence(w, h) {
    return say("too_many_pixels", {
      width: w, height: h, megapixels: decimal(w * h, 1000000, 1), max_megapixels: decimal(MAX_PIXELS, 1000000, 1),
    });
  }

  function startsWith(bytes, text) {
    for (let i = 0; i < text.length; i++) if (bytes[i] !== text.charCodeAt(i)) return false;
    return true;
  }
  function ascii(bytes, from, to) {
    return String.fromCharCode.apply(null, Array.from(bytes.slice(from, to)));
  }
  // The kind of file, by its first bytes (never its name), for the pictures people usually bring.
  function sniff(b) {
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
    if (startsWith(b, "\x89PNG\r\n\x1a\n")) return "png";
    if (startsWith(b, "GIF87a") || startsWith(b, "GIF89a")) return "a GIF image";
    if (startsWith(b, "RIFF") && ascii(b, 8, 12) === "WEBP") return "a WebP image";
    if (startsWith(b, "BM") && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) return "a BMP image";
    if (startsWith(b, "II*\x00") || startsWith(b, "MM\x00*")) return "a TIFF image";
    if (startsWith(b, "8BPS")) return "a Photoshop (PSD) file";
    if (startsWith(b, "%PDF-")) return "a PDF document";
    if (ascii(b, 4, 8) === "ftyp") {
      const brand = ascii(b, 8, 12).toLowerCase();
      if (brand === "avif" || brand === "avis") return "an AVIF image";
      if (["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "heif"].indexOf(brand) >= 0) return "a HEIC image";
      return "a video file";
    }
    return null;
  }

  function pictureSize(url) {
    return new Promise(function (resolve) {
      const probe = new Image();
      // Browsers turn the picture by its EXIF orientation, as our rules do.
      probe.onload = function () { resolve({ width: probe.naturalWidth, height: probe.naturalHeight }); };
      probe.onerror = function () { resolve(null); };
      probe.src = url;
    });
  }

  // The JPEG frame marker (0xC0 baseline, 0xC1 extended, 0xC2 progressive, others uncommon),
  // found by walking the segments before it; null when it is not in the bytes read.
  function jpegFrame(b) {
    let pos = 2;
    while (pos + 4 <= b.length && b[pos] === 0xff) {
      const marker = b[pos + 1];
      if (marker === 0xff) { pos += 1; continue; }
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return marker;
      if (marker === 0xda) return null;
      pos += 2 + ((b[pos + 2] << 8) | b[pos + 3]);
    }
    return null;
  }

  // Whether the server's fixes can mend this picture: the same limits as pictures/fixing.py, per format,
  // so "Show ways to fix it" is only offered where a fix will really be made.
  function canFix(kind, bytes, size, frame) {
    if (RULES.fixable.indexOf(kind) < 0 || bytes > RULES.fix_max_bytes) return false;
    if (!size) return false;
    const pixels = size.width * size.height;
    if (pixels <= MAX_PIXELS) return true;
    return kind === "jpeg" && (frame === 0xc0 || frame === 0xc1) && pixels <= RULES.shrinkable_pixels;
  }

  // What the server would say about this file, and whether a fix could mend it.
  async function verdict(file, url) {
    if (file.size === 0) return { messages: [say("empty", {})], fixable: false };
    // The frame marker follows EXIF, profiles and thumbnails, which real files keep within this.
    const head = new Uint8Array(await file.slice(0, 512 * 1024).arrayBuffer());
    const kind = sniff(head);
    const frame = kind === "jpeg" ? jpegFrame(head) : null;
    const jpegOrPng = kind === "jpeg" || kind === "png";
    const size = RULES.fixable.indexOf(kind) >= 0 ? await pictureSize(url) : null;
    const fixable = canFix(kind, file.size, size, frame);
    if (file.size > MAX_BYTES) return { messages: [sizeSentence(file.size)], fixable: fixable, size: size };
    if (!jpegOrPng) return { messages: [formatSentence(kind)], fixable: fixable, size: size };
    if (!size) return { messages: [], fixable: false, size: null }; // let the server judge it
    if (size.width * size.height > MAX_PIXELS) {
      return { messages: [pixelSentence(size.width, size.height)], fixable: fixable, size: size };
    }
    const messages = ruleSentences(size.width, size.height);
    return { messages: messages, fixable: fixable && messages.length > 0, size: size };
  }

  // --- Picking, previewing and checking a file --------------------------------------------------
  // Two pictures work the same way: the first frame, and the last frame for models that take one
  // (its elements carry the "last-" prefix). Each keeps its own verdict; Generate stays off while
  // either one in use breaks a rule.
  const problems = {};

  // aria-disabled rather than disabled: the button stays reachable by keyboard and screen
  // readers, which read out why it does nothing yet (aria-describedby).
  function block(slotName, reason) {
    problems[slotName] = reason;
    refreshBlock();
  }
  function inUse(slotName) {
    if (slotName === "first") return true;
    const fieldset = document.getElementById("last-frame-field");
    return Boolean(fieldset) && !fieldset.disabled;
  }
  // A batch the page came back with (playground/pictures/batch_pictures.py): each refused picture in its
  // list is marked by the server; it must be fixed or removed before the batch can go.
  function batchProblem() {
    const refused = document.querySelectorAll("#batch-pictures [data-refused]").length;
    if (!refused) return "";
    return "Generate is off: " + (refused === 1 ? "a picture" : refused + " pictures") +
      " of this batch can't be used yet (see above). Choose a fix, or remove the picture.";
  }
  function currentProblem() {
    return ["first", "last"].map(function (name) { return inUse(name) ? problems[name] || "" : ""; }).find(Boolean) || batchProblem();
  }
  function refreshBlock() {
    const reason = currentProblem();
    button.setAttribute("aria-disabled", reason ? "true" : "false");
    blocked.hidden = !reason;
    blocked.textContent = reason;
  }
  form.addEventListener("model-fields-changed", refreshBlock);
  refreshBlock();

  // The batch's list (and the reference pictures' list) comes back whole after a fix is chosen or
  // a picture removed: focus goes where the list says, so keyboard users keep their place.
  document.body.addEventListener("htmx:load", function (event) {
    if (event.target.id === "reference-pictures") {
      const focusHere = event.target.querySelector("[data-autofocus]");
      if (focusHere) focusHere.focus();
      return;
    }
    if (event.target.id !== "batch-pictures") return;
    refreshBlock();
    // "Please fix the highlighted fields" goes once nothing on the form is highlighted any more.
    const fieldsBanner = document.querySelector("[data-fields-banner]");
    if (fieldsBanner && !form.querySelector(".field-errors li")) fieldsBanner.hidden = true;
    const takes = document.getElementById("id_takes");
    if (takes) takes.dispatchEvent(new Event("pictures-changed")); // the plan counts the pictures
    const target = event.target.querySelector("[data-autofocus]");
    if (target) target.focus();
  });

  // The rule sentences as the server's error lists show them.
  function errorList(messages) {
    const list = document.createElement("ul");
    list.className = "field-errors";
    messages.forEach(function (message) {
      const item = document.createElement("li");
      item.textContent = message;
      list.append(item);
    });
    return list;
  }

  function ratioText(w, h) {
    return w >= h ? (w / h).toFixed(2) + " : 1" : "1 : " + (h / w).toFixed(2);
  }
  function sizeText(bytes) {
    return bytes >= MB ? (bytes / MB).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function watchPicture(slotName, prefix, what) {
    const zone = document.getElementById(prefix + "dropzone");
    if (!zone) return;
    const input = zone.querySelector('input[type="file"]');
    const preview = document.getElementById(prefix + "preview");
    const previewImg = document.getElementById(prefix + "preview-img");
    const caption = document.getElementById(prefix + "preview-caption");
    const clientCheck = document.getElementById(prefix + "client-check");
    const showFixes = document.getElementById(prefix + "show-fixes");
    const fixArea = document.getElementById(prefix + "fix-area");
    let objectUrl = null;
    let manyUrls = [];

    // Several pictures (a batch): each is checked here one after another and listed with its
    // verdict. Generate stays on: the server checks them again, keeps the ones that pass and
    // offers each refused one its fixes, and sends nothing until every picture passes.
    async function onPickMany(files) {
      preview.hidden = true;
      block(slotName, "");
      const list = document.createElement("ol");
      list.className = "picked-list";
      clientCheck.append(list);
      let refused = 0;
      for (let i = 0; i < files.length; i++) {
        const url = URL.createObjectURL(files[i]);
        manyUrls.push(url);
        const result = await verdict(files[i], url);
        const item = document.createElement("li");
        const thumb = document.createElement("img");
        thumb.src = url;
        thumb.alt = "";
        thumb.width = 64;
        const text = document.createElement("div");
        const name = document.createElement("strong");
        name.textContent = "Picture " + (i + 1) + " (" + files[i].name + ")";
        text.append(name, document.createElement("br"));
        const facts = sizeText(files[i].size) + (result.size ? " · " + result.size.width + "×" + result.size.height : "");
        if (result.messages.length) {
          refused += 1;
          item.className = "refused";
          text.append(facts);
          text.append(errorList(result.messages));
        } else {
          text.append(facts + (result.size ? " · ✓ meets the rules" : ""));
        }
        item.append(thumb, text);
        list.append(item);
      }
      if (refused) {
        const note = document.createElement("p");
        note.className = "hint";
        note.textContent = (refused === 1 ? "One picture breaks" : refused + " pictures break") +
          " a rule. Generate checks every picture again and offers fixes for the ones that need them; nothing is sent until all of them pass.";
        clientCheck.append(note);
      }
    }

    async function onPick() {
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      manyUrls.forEach(function (url) { URL.revokeObjectURL(url); });
      manyUrls = [];
      clientCheck.replaceChildren();
      showFixes.hidden = true;
      if (input.files && input.files.length > 1) { onPickMany(Array.from(input.files)); return; }
      const file = input.files && input.files[0];
      if (!file) { preview.hidden = true; block(slotName, ""); return; }
      // A new file replaces a fix chosen earlier.
      if (fixArea.querySelector("[data-fixed]")) {
        fixArea.replaceChildren();
        // Its hidden input waits at the top of the form (#kept-choices): it goes too.
        const kept = document.getElementById(slotName === "last" ? "kept-last-frame" : "kept-first-frame");
        if (kept) kept.replaceChildren();
      }
      objectUrl = URL.createObjectURL(file);
      previewImg.src = objectUrl;
      caption.textContent = file.name + " · " + sizeText(file.size);
      preview.hidden = false;
      const result = await verdict(file, objectUrl);
      if (result.size) {
        caption.textContent += " · " + result.size.width + "×" + result.size.height + " · ratio " + ratioText(result.size.width, result.size.height);
      }
      if (!result.messages.length) {
        const ok = document.createElement("p");
        ok.className = "check-ok";
        ok.textContent = result.size ? "✓ This picture meets the rules." : "";
        if (ok.textContent) clientCheck.append(ok);
        block(slotName, "");
        return;
      }
      clientCheck.append(errorList(result.messages));
      showFixes.hidden = !result.fixable;
      block(slotName, result.fixable
        ? "Generate is off: the " + what + " breaks a rule (see above). Choose “Show ways to fix it”, or another picture."
        : "Generate is off: the " + what + " can't be used (see above). Choose another picture.");
    }
    input.addEventListener("change", onPick);

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

    // --- After the server answers: fixes offered, or a fix chosen -------------------------------
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.target !== fixArea) return;
      if (fixArea.querySelector(".fix-offers")) {
        // The offers repeat what is wrong; one copy of the sentences is enough.
        clientCheck.replaceChildren();
        showFixes.hidden = true;
      }
      if (fixArea.querySelector("[data-fixed]")) {
        // The fixed copy is the picture now: don't upload the original with the form.
        input.value = "";
        clientCheck.replaceChildren();
        showFixes.hidden = true;
        const fixedImg = fixArea.querySelector("img");
        if (fixedImg) {
          previewImg.src = fixedImg.src;
          caption.textContent = fixArea.querySelector("[data-fixed]").dataset.fixed;
        }
        block(slotName, "");
      }
      const target = fixArea.querySelector("[data-autofocus]");
      if (target) target.focus();
    });
  }
  watchPicture("first", "", "first frame");
  watchPicture("last", "last-", "last frame");

  // --- One click, one job: the server also recognises a resent form -----------------------------
  form.addEventListener("submit", function (event) {
    if (currentProblem()) { event.preventDefault(); blocked.focus(); return; }
    if (event.submitter && event.submitter !== button) return; // a "Use this" fix button
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

// Batches: the plan sentence ("4 videos · …") counts the chosen files too; the server words it.
(function () {
  "use strict";
  const files = document.getElementById("id_first_frame");
  const count = document.getElementById("picture-files");
  const takes = document.getElementById("id_takes");
  if (!files || !count || !takes) return;
  files.addEventListener("change", function () {
    count.value = String(files.files ? files.files.length : 0);
    takes.dispatchEvent(new Event("pictures-changed"));
  });
})();
