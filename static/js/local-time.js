// Times in the viewer's own time zone: the server writes <time datetime="...Z" data-style="..."> with the UTC
// text inside (what a page without scripts shows); this turns it into local time and keeps UTC on hover.
(() => {
  const pad = (n) => String(n).padStart(2, "0");

  function format(date, style) {
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    const minute = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
    if (style === "date") return day;
    if (style === "time") return minute;
    if (style === "seconds") return `${day} ${minute}:${pad(date.getSeconds())}`;
    return `${day} ${minute}`;
  }

  function localize(root) {
    for (const el of root.querySelectorAll("time[datetime][data-style]:not([data-local])")) {
      const date = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) continue;
      el.title = el.textContent.trim();
      el.textContent = format(date, el.dataset.style);
      el.dataset.local = "true";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    localize(document);
    // Fragments htmx swaps in (the workbench's lock line, polled tables) carry their own <time> elements.
    document.body.addEventListener("htmx:afterSettle", () => localize(document));
  });
})();
