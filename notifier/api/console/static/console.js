// Canned responses: show the chosen one and copy it. The console's only script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const choice = document.getElementById("canned-choice");
  const button = document.getElementById("copy-canned");
  const status = document.getElementById("copy-status");
  if (!choice || !button || !status) return;
  const texts = () => Array.from(document.querySelectorAll("textarea.canned-text"));
  const current = () => texts().find((t) => t.dataset.name === choice.value);
  choice.addEventListener("change", () => {
    for (const t of texts()) t.hidden = t.dataset.name !== choice.value;
    status.textContent = "";
  });
  button.addEventListener("click", async () => {
    const area = current();
    if (!area) return;
    try {
      // A clipboard request can stay pending (no focus, a permission prompt nobody
      // sees): give it a moment, then fall back rather than say nothing.
      const late = new Promise((_, reject) => setTimeout(() => reject(new Error("late")), 1500));
      await Promise.race([navigator.clipboard.writeText(area.value), late]);
      status.textContent = status.dataset.done;
    } catch (err) {
      // No clipboard permission (an old browser, or a page not served over HTTPS), or
      // no answer: fall back to selecting the text and the browser's copy command.
      area.focus();
      area.select();
      const copied = document.execCommand && document.execCommand("copy");
      status.textContent = copied ? status.dataset.done : status.dataset.failed;
    }
  });
});
