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

  function describe(model) {
    needFrame.textContent = model.need_frame;
    const duration = checkedValue("duration_seconds");
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
      const taken = model.options.indexOf(fieldset.dataset.option) >= 0;
      fieldset.hidden = !taken;
      fieldset.disabled = !taken;
    });
    // A model change starts from that model's defaults; a page shown again keeps the choices.
    if (model.options.indexOf("resolution") >= 0 && (fromUser || !checkedValue("resolution"))) {
      tick("resolution", model.default_resolution);
    }
    if (model.options.indexOf("duration") >= 0 && (fromUser || !checkedValue("duration_seconds"))) {
      tick("duration_seconds", model.default_duration);
    }
    fitDurations(model);
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
  const first = current();
  if (first) show(first, false);
})();
