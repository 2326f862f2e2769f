// django-allauth's passkey buttons report a failed or cancelled ceremony only to the console; say it
// on the page instead, in the box marked data-passkey-error (templates/mfa/).
(function () {
  "use strict";
  const SENTENCES = {
    InvalidStateError: "This passkey is already added to your account.",
    SecurityError: "Passkeys work only on the site's secure address (https://, or http://localhost on " +
      "this machine), not on a numeric address such as 127.0.0.1.",
  };
  const OTHERWISE = "The passkey was not used: it was cancelled or timed out, or this device has none " +
    "for this site. Try again, or use another way.";
  document.addEventListener("allauth.error", function (event) {
    const box = document.querySelector("[data-passkey-error]");
    if (!box) return;
    event.preventDefault();
    const name = event.detail && event.detail.exception && event.detail.exception.name;
    box.textContent = SENTENCES[name] || OTHERWISE;
    box.hidden = false;
  });
})();
