// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // Refuse to run htmx requests against other origins even if a page is tampered with.
  document.body.addEventListener("htmx:validateUrl", (event) => {
    if (!event.detail.sameHost) event.preventDefault();
  });
});
