// django-allauth's passkey buttons report a failed or cancelled ceremony only to the console; say it
// on the page instead, in the box marked data-passkey-error (templates/mfa/).
(function () {
  "use strict";
  const SENTENCE = "The passkey was not used: it was cancelled, timed out, or this device has no passkey " +
    "for this site. Try again, or use the code from your authenticator app.";
  document.addEventListener("allauth.error", function (event) {
    const box = document.querySelector("[data-passkey-error]");
    if (!box) return;
    event.preventDefault();
    const name = event.detail && event.detail.exception && event.detail.exception.name;
    box.textContent = name === "InvalidStateError"
      ? "This passkey is already added to your account."
      : SENTENCE;
    box.hidden = false;
  });
})();
