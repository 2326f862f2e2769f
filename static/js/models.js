// The Generate page shows only the fields the chosen model takes, with its defaults, and says
// how long its render usually takes. What each model takes comes from the server
// (playground/upstream/catalogue.py, as the "model-catalogue" JSON script tag), never typed here. A
// hidden field's fieldset is disabled too, so the browser does not send it; the server refuses
// a field a model does not take whatever the page did.
(function () {
  "use strict";
  const form = document.getElementById("generate-form");
  const data = document.getElementById("model-catalogue");
  if (!form || !data) return;
  const models = {};
  JSON.parse(data.textContent).forEach(function (model) { models[model.id] = model; });

  const needFrame = document.getElementById("need-frame");
  const renderTime = document.getElementById("render-time");
  const lengthHint = document.getElementById("length-hint");
  const range = document.getElementById("id_duration_range");
  const rangeValue = document.getElementById("length-range-value");
  const rangeWords = document.getElementById("length-range-words");
  const ratio = document.getElementById("id_ratio");
  const ratioHint = document.getElementById("ratio-hint");
  const prompt = document.getElementById("id_prompt");

  function current() {
    const checked = form.querySelector('input[name="model"]:checked');
    return checked ? models[checked.value] : null;
  }
  function radios(name) {
    return Array.from(form.querySelectorAll('input[name="' + name + '"]'));
  }
  function checkedValue(name) {
    const found = radios(name).find(function (radio) { return radio.checked; });
    return found ? found.value : null;
  }
  function tick(name, value) {
    radios(name).forEach(function (radio) { radio.checked = radio.value === String(value); });
  }

  // Lengths a resolution allows ("10-second clips at 768p"): the others are switched off.
  function fitDurations(model) {
    if (model.options.indexOf("duration") < 0) return;
    const resolution = checkedValue("resolution") || model.default_resolution;
    const allowed = (model.durations_at[resolution] || model.durations).map(String);
    radios("duration_seconds").forEach(function (radio) {
      radio.disabled = allowed.indexOf(radio.value) < 0;
    });
    const chosen = checkedValue("duration_seconds");
    if (!chosen || allowed.indexOf(chosen) < 0) {
      tick("duration_seconds", allowed.indexOf(String(model.default_duration)) >= 0 ? model.default_duration : allowed[0]);
    }
  }

  // A model whose lengths are a range gets the slider, set to its own span.
  function fitRange(model, fromUser) {
    if (!range || !model.length_range) return;
    range.min = model.length_range[0];
    range.max = model.length_range[1];
    range.step = model.length_range[2];
    if (fromUser) range.value = model.default_duration;
    rangeWords.textContent = model.lengths_words.charAt(0).toUpperCase() + model.lengths_words.slice(1) + ".";
    showRange();
  }
  function showRange() {
    if (range) rangeValue.textContent = range.value + " seconds";
  }

  // Only the ratios the model makes are offered; "Default" says what it means for this model.
  function fitRatios(model, fromUser) {
    if (!ratio) return;
    Array.from(ratio.options).forEach(function (option) {
      const offered = option.value === "" || model.ratios.indexOf(option.value) >= 0;
      option.hidden = !offered;
      option.disabled = !offered;
    });
    if (fromUser || (ratio.selectedOptions[0] && ratio.selectedOptions[0].disabled)) ratio.value = "";
    if (ratioHint) ratioHint.textContent = model.ratio_hint;
  }

  function describe(model) {
    needFrame.textContent = model.need_frame;
    const duration = model.length_range && range ? range.value : checkedValue("duration_seconds");
    const length = model.options.indexOf("duration") >= 0 && duration ? duration : String(model.default_duration);
    renderTime.textContent = model.waits[length] || "";
    if (lengthHint) {
      lengthHint.textContent = Object.keys(model.longest_at).map(function (resolution) {
        return "At " + resolution + ", " + model.longest_at[resolution] + " seconds at most.";
      }).join(" ");
    }
  }

  function show(model, fromUser) {
    form.querySelectorAll("[data-option]").forEach(function (fieldset) {
      // Lengths: the radios ("duration") for a list of lengths, the slider ("duration_range") for a range.
      const option = fieldset.dataset.option;
      const ranged = Boolean(model.length_range);
      let taken = model.options.indexOf(option === "duration_range" ? "duration" : option) >= 0;
      if (option === "duration") taken = taken && !ranged;
      if (option === "duration_range") taken = taken && ranged;
      fieldset.hidden = !taken;
      fieldset.disabled = !taken;
    });
    // The kept choices' hidden inputs (generate.html's #kept-choices) are sent with their fields, or not at all.
    form.querySelectorAll("[data-kept-option]").forEach(function (fieldset) {
      fieldset.disabled = model.options.indexOf(fieldset.dataset.keptOption) < 0;
    });
    // A model change starts from that model's defaults; a page shown again keeps the choices.
    if (model.options.indexOf("resolution") >= 0 && (fromUser || !checkedValue("resolution"))) {
      tick("resolution", model.default_resolution);
    }
    if (model.options.indexOf("duration") >= 0 && (fromUser || !checkedValue("duration_seconds"))) {
      tick("duration_seconds", model.default_duration);
    }
    // The prompt counter (generate.js) counts against this model's limit.
    if (prompt) prompt.dataset.max = model.prompt_max;
    if (!model.length_range) fitDurations(model);
    fitRange(model, fromUser);
    fitRatios(model, fromUser);
    describe(model);
    form.dispatchEvent(new CustomEvent("model-fields-changed", { bubbles: true }));
  }

  radios("model").forEach(function (radio) {
    radio.addEventListener("change", function () { if (radio.checked) show(models[radio.value], true); });
  });
  radios("resolution").forEach(function (radio) {
    radio.addEventListener("change", function () { const model = current(); if (model) { fitDurations(model); describe(model); } });
  });
  radios("duration_seconds").forEach(function (radio) {
    radio.addEventListener("change", function () { const model = current(); if (model) describe(model); });
  });
  if (range) {
    range.addEventListener("input", function () { showRange(); const model = current(); if (model) describe(model); });
  }
  const first = current();
  if (first) show(first, false);
})();
