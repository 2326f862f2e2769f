// Generate page: Enter in the preset's name saves the preset. Without this the browser would
// press the form's default button, Generate, and start a paid video instead.
(function () {
  "use strict";
  const name = document.getElementById("id_preset_name");
  const save = document.getElementById("save-preset");
  if (!name || !save) return;
  name.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      save.click();
    }
  });
})();
