// Small progressive enhancements; no inline scripts anywhere (CSP).
document.addEventListener("DOMContentLoaded", () => {
  // Refuse to run htmx requests against other origins even if a page is tampered with.
  document.body.addEventListener("htmx:validateUrl", (event) => {
    if (!event.detail.sameHost) event.preventDefault();
  });
  // Upload progress for the batch upload form.
  document.body.addEventListener("htmx:xhr:progress", (event) => {
    const bar = document.getElementById("upload-progress");
    if (!bar || !event.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
  });
});
