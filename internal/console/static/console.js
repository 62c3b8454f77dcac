// tarn console: the only script. It adds what plain HTML cannot do; every page works without it.
"use strict";

// Copy buttons: <button class="copy" data-copy="ID" hidden> copies the text of element ID.
// They are hidden until this script shows them, so without script nobody sees a dead button.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select and copy";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
});

// Forms that take a while (Verify calls the cloud several times): <form data-busy="TEXT">
// shows TEXT on its submit button and disables it once sent, so nobody sends it twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.busy) return;
  const button = form.querySelector("button[type=submit]");
  if (!button) return;
  // After this event, so that the browser still sends the form.
  setTimeout(() => { button.disabled = true; button.textContent = form.dataset.busy; }, 0);
});
