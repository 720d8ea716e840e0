// The review workbench: keyboard-first focus, highlighting and actions. Decisions go to the server with htmx;
// the answer swaps only what changed. Offsets sent to the server are code points (see offsets.js).
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  let wb = null;
  let focusedId = null;
  let queue = Promise.resolve();
  let lastOk = true;

  const docId = () => wb.dataset.doc;
  const state = () => $("#wb-state");
  const version = () => state().dataset.version;
  const canAct = () => state().dataset.canAct === "true";
  // Recall audit: a blind pass hides the models' proposals until the reviewer finishes it.
  const blindPass = () => state().dataset.blind === "pending";
  const focused = () => (focusedId ? document.getElementById(focusedId) : null);
  const hint = (text) => {
    $("#wb-hint").textContent = text || "";
  };

  // --- sending ------------------------------------------------------------------------------------------

  // One request at a time, each carrying the version the previous answer left: rapid keys never race.
  function send(path, values) {
    queue = queue.then(
      () =>
        new Promise((resolve) => {
          lastOk = true;
          htmx
            .ajax("POST", "/documents/" + docId() + path, {
              source: wb,
              target: "#wb-state",
              swap: "outerHTML settle:0ms",
              values: Object.assign({ version: version() }, values),
            })
            .then(() => resolve(lastOk), () => resolve(false));
        })
    );
    return queue;
  }

  function decide(item, id, action, extra) {
    if (!canAct()) {
      hint("This document is read only for you.");
      return Promise.resolve(false);
    }
    const values = Object.assign({ item: item, action: action }, extra || {});
    if (id !== null && id !== undefined) values.id = id;
    return send("/decide", values);
  }

  // --- focus and highlighting ---------------------------------------------------------------------------

  // Elements lit by the current focus: cleared from this list, never by searching the whole page.
  let lit = [];
  function clearHighlights() {
    lit.forEach((el) => el.classList.remove("hl-head", "hl-tail", "hl-ent", "hl-ev"));
    lit = [];
  }
  function light(els, cls) {
    els.forEach((el) => {
      el.classList.add(cls);
      lit.push(el);
    });
    return els;
  }


  function segmentsOf(entityId) {
    return $$('#wb-text [data-e~="' + entityId + '"]');
  }

  function scrollText(el) {
    if (el) el.scrollIntoView({ block: "center", behavior: "instant" });
  }

  function showRelationsOf(row) {
    const box = $("#wb-focus");
    box.replaceChildren();
    if (!row || row.dataset.kind !== "entity") {
      box.hidden = true;
      return;
    }
    const id = row.dataset.id;
    const rels = $$('#wb-relations .item[data-h="' + id + '"], #wb-relations .item[data-t="' + id + '"]');
    const title = document.createElement("p");
    title.className = "small muted";
    title.textContent = (row.dataset.name || "") + ": " + rels.length + " relation(s)";
    box.appendChild(title);
    rels.forEach((r) => {
      const link = document.createElement("button");
      link.type = "button";
      link.className = "focus-link st-" + statusOf(r);
      link.textContent = r.querySelector(".chip").textContent + " " + r.querySelector(".rtype").textContent + " " + r.querySelectorAll(".chip")[1].textContent;
      link.addEventListener("click", () => focusItem(r));
      box.appendChild(link);
    });
    box.hidden = false;
  }

  function statusOf(row) {
    return ["proposed", "accepted", "rejected"].find((s) => row.classList.contains("st-" + s)) || "";
  }

  function applyFocus(scroll) {
    $$("#wb-panel .item.focused").forEach((el) => el.classList.remove("focused"));
    clearHighlights();
    const row = focused();
    if (!row) {
      showRelationsOf(null);
      scheduleArcs(null);
      return;
    }
    row.classList.add("focused");
    scheduleArcs(row.id);
    if (scroll) row.scrollIntoView({ block: "nearest" });
    if (row.dataset.kind === "relation") {
      const head = segmentsOf(row.dataset.h);
      light(head, "hl-head");
      light(segmentsOf(row.dataset.t), "hl-tail");
      (row.dataset.ev || "").split(" ").filter(Boolean).forEach((i) => {
        const s = document.getElementById("s" + i);
        if (s) light([s], "hl-ev");
      });
      const firstEv = (row.dataset.ev || "").split(" ").filter(Boolean)[0];
      if (scroll) scrollText(head[0] || (firstEv !== undefined ? document.getElementById("s" + firstEv) : null));
    } else {
      const segs = segmentsOf(row.dataset.id);
      light(segs, "hl-ent");
      if (scroll) scrollText(segs[0]);
    }
    showRelationsOf(row);
  }

  function focusItem(row, scroll) {
    focusedId = row ? row.id : null;
    applyFocus(scroll !== false);
  }

  function move(step, onlyTodo) {
    const items = $$("#wb-panel .items > .item");
    if (!items.length) return;
    const current = focused();
    let i = current ? items.indexOf(current) : -1;
    for (let n = 0; n < items.length; n++) {
      i = i + step;
      if (i < 0 || i >= items.length) break;
      if (!onlyTodo || stopsHere(items[i])) return focusItem(items[i]);
    }
    hint(onlyTodo ? (step > 0 ? "No more items to review below." : "No items to review above.") : "");
  }

  // "Review agreed items too": j/k also stop on items accepted without review (per browser session).
  const AGREED_TOO = "concord.reviewAgreedToo";
  function agreedToo() {
    try {
      return sessionStorage.getItem(AGREED_TOO) === "1";
    } catch (_e) {
      return false;
    }
  }
  function setAgreedToo(on) {
    try {
      sessionStorage.setItem(AGREED_TOO, on ? "1" : "0");
    } catch (_e) {
      /* storage disabled: the box still works on this page */
    }
  }
  function stopsHere(row) {
    return row.classList.contains("st-proposed") || (agreedTooBox() && agreedTooBox().checked && row.classList.contains("auto"));
  }
  const agreedTooBox = () => $("#wb-agreed-too");

  // --- the picker: a small keyboard list dialog ---------------------------------------------------------

  function pick(title, options, opts) {
    opts = opts || {};
    const dialog = $("#wb-picker");
    const input = $("#picker-filter");
    const list = $("#picker-list");
    $("#picker-title").textContent = title;
    input.value = opts.input || "";
    input.placeholder = opts.placeholder || (opts.freeText ? "" : "type to filter");
    let active = Math.max(0, options.findIndex((o) => opts.preselect !== undefined && o.value === opts.preselect));
    let shown = options;
    // Only the keys this list answers to: typing a free value has no ↑/↓, a type list has its numbers.
    $("#picker-keys").textContent =
      opts.keys ||
      (opts.freeText ? "Enter confirm · Esc cancel" : "↑/↓ choose · " + (opts.numbered ? "1–9 pick · " : "") + "Enter confirm · Esc cancel");
    function draw() {
      const q = input.value.trim().toLowerCase();
      shown = opts.freeText ? options : options.filter((o) => !q || (o.label + " " + (o.value || "")).toLowerCase().includes(q));
      if (active >= shown.length) active = Math.max(0, shown.length - 1);
      const numbered = opts.numbered && !input.value;
      list.replaceChildren(
        ...shown.map((o, i) => {
          const li = document.createElement("li");
          li.setAttribute("role", "option");
          if (numbered && o.key) {
            const k = document.createElement("kbd");
            k.textContent = o.key;
            li.append(k, " ");
          }
          li.append(o.label);
          if (o.hint) {
            const small = document.createElement("span");
            small.className = "muted small";
            small.textContent = " " + o.hint;
            li.appendChild(small);
          }
          if (i === active) {
            li.classList.add("active");
            li.setAttribute("aria-selected", "true");
          }
          li.addEventListener("mousedown", (e) => {
            e.preventDefault();
            finish(o.value);
          });
          return li;
        })
      );
      const act = list.querySelector(".active");
      if (act) act.scrollIntoView({ block: "nearest" });
    }
    let done;
    const result = new Promise((resolve) => (done = resolve));
    function finish(value) {
      input.removeEventListener("input", onInput);
      input.removeEventListener("keydown", onKey);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      done(value);
    }
    function onInput() {
      active = 0;
      if (opts.onInput) opts.onInput(input.value, (next) => { options = next; draw(); });
      else draw();
    }
    function onKey(e) {
      if (e.key === "ArrowDown") { active = Math.min(active + 1, shown.length - 1); draw(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); draw(); e.preventDefault(); }
      else if (e.key === "Enter") {
        e.preventDefault();
        if (opts.freeText && !shown.length) finish(input.value);
        else if (shown[active]) finish(shown[active].value);
      } else if (e.key === "Escape") { e.preventDefault(); finish(null); }
      else if (opts.numbered && !input.value && /^[0-9]$/.test(e.key)) {
        // Number keys pick from a type list while nothing is typed (typing filters, digits included, after that).
        e.preventDefault();
        const chosen = options.find((o) => o.key === e.key);
        if (chosen) finish(chosen.value);
      }
    }
    function onCancel(e) { e.preventDefault(); finish(null); }
    input.addEventListener("input", onInput);
    input.addEventListener("keydown", onKey);
    dialog.addEventListener("cancel", onCancel);
    draw();
    dialog.showModal();
    input.focus();
    input.select();
    return result;
  }

  // --- schema and document lookups ----------------------------------------------------------------------

  // Type lists number their first nine types in schema order, so a number always means the same type.
  const numbered = (options) => options.map((o, i) => Object.assign({ key: i < 9 ? String(i + 1) : "" }, o));

  function entityTypes() {
    return numbered($$("#entity-types li").map((li) => ({ label: li.textContent + " · " + li.dataset.code, value: li.dataset.code })));
  }

  // The last type chosen, per project and kind, offered first next time (this browser only).
  const lastTypeKey = (kind) => "concord.lastType." + wb.dataset.project + "." + kind;
  function lastType(kind) {
    try {
      return localStorage.getItem(lastTypeKey(kind)) || undefined;
    } catch (_e) {
      return undefined;
    }
  }
  function rememberType(kind, code) {
    try {
      localStorage.setItem(lastTypeKey(kind), code);
    } catch (_e) {
      /* storage full or disabled: nothing to remember with */
    }
  }

  function relationTypesFor(headType, tailType) {
    return $$("#relation-types li")
      .filter((li) => {
        const heads = (li.dataset.head || "").split(" ").filter(Boolean);
        const tails = (li.dataset.tail || "").split(" ").filter(Boolean);
        return (!heads.length || heads.includes(headType)) && (!tails.length || tails.includes(tailType));
      })
      .map((li) => ({ label: li.textContent + " · " + li.dataset.code, value: li.dataset.code }));
  }

  function relationTypeOptions(headType, tailType) {
    return numbered(relationTypesFor(headType, tailType));
  }

  function entityRows(exceptId) {
    return $$("#wb-entities .item, #wb-ungrounded .item")
      .filter((r) => r.dataset.id !== exceptId && !r.classList.contains("st-rejected"))
      .map((r) => ({ label: r.dataset.name + " · " + r.dataset.type, value: r.dataset.id, row: r }));
  }

  function sentenceStart(sent) {
    const first = sent.querySelector("[data-s]");
    return first ? Number(first.dataset.s) : 0;
  }

  const isLowSurrogate = (unit) => unit >= 0xdc00 && unit <= 0xdfff;

  // Every occurrence of `needle` in the text, as code-point spans with a little context.
  function occurrences(needle) {
    const out = [];
    if (!needle) return out;
    $$("#wb-text .sent").forEach((sent) => {
      const text = sent.textContent;
      let i = text.indexOf(needle);
      while (i !== -1 && out.length < 50) {
        const start = sentenceStart(sent) + ConcordOffsets.utf16ToCodePoints(text, i);
        const end = start + ConcordOffsets.codePointLength(needle);
        // A little context either side, widened rather than cutting a surrogate pair (𠮷, emoji) in half.
        let a = Math.max(0, i - 8);
        let b = Math.min(text.length, i + needle.length + 8);
        if (a > 0 && isLowSurrogate(text.charCodeAt(a))) a--;
        if (isLowSurrogate(text.charCodeAt(b))) b++;
        out.push({ label: "S" + sent.dataset.n + ": …" + text.slice(a, b) + "…", value: start + ":" + end });
        i = text.indexOf(needle, i + needle.length);
      }
    });
    return out;
  }

  // --- relation arcs --------------------------------------------------------------------------------------

  // Arcs of one entity's relations (the focused or hovered one) over the text, as brat and INCEpTION draw them.
  // Only that entity's arcs are drawn, from the rectangles of the few mentions involved: nothing else is measured.
  const SVG = "http://www.w3.org/2000/svg";
  let arcsOf = null; // what is drawn: an entity row id ("e-12") or a relation row id

  function arcLayer() {
    const text = $("#wb-text");
    let svg = $("#wb-arcs", text);
    if (!svg) {
      svg = document.createElementNS(SVG, "svg");
      svg.id = "wb-arcs";
      svg.setAttribute("class", "wb-arcs");
      svg.setAttribute("aria-hidden", "true");
      const defs = document.createElementNS(SVG, "defs");
      const marker = document.createElementNS(SVG, "marker");
      marker.id = "arc-head";
      for (const [k, v] of Object.entries({ viewBox: "0 0 8 8", refX: "7", refY: "4", markerWidth: "7", markerHeight: "7", orient: "auto" })) marker.setAttribute(k, v);
      const tip = document.createElementNS(SVG, "path");
      tip.setAttribute("d", "M0,0 L8,4 L0,8 z");
      marker.appendChild(tip);
      defs.appendChild(marker);
      svg.appendChild(defs);
      text.prepend(svg);
    }
    return svg;
  }

  function clearArcs() {
    const svg = $("#wb-arcs");
    if (svg) $$(".arc, .arc-label, .arc-drag", svg).forEach((el) => el.remove());
  }

  // Rectangles of an entity's mentions in the text's scrolled coordinates.
  function boxesOf(entityId, origin, text) {
    return segmentsOf(entityId).map((seg) => {
      const r = seg.getBoundingClientRect();
      return { x: r.left - origin.left + text.scrollLeft, y: r.top - origin.top + text.scrollTop, w: r.width, h: r.height };
    });
  }

  function closestPair(heads, tails) {
    let best = null;
    for (const h of heads) {
      for (const t of tails) {
        const d = Math.abs(h.y - t.y) * 4 + Math.abs(h.x - t.x);
        if (!best || d < best.d) best = { d: d, h: h, t: t };
      }
    }
    return best;
  }

  function drawArcs(rowId) {
    arcsOf = rowId || null;
    const row = rowId ? document.getElementById(rowId) : null;
    const rels = !row ? [] : row.dataset.kind === "relation" ? [row] : $$('#wb-relations .item[data-h="' + row.dataset.id + '"], #wb-relations .item[data-t="' + row.dataset.id + '"]');
    if (!rels.length) return clearArcs();
    const text = $("#wb-text");
    // Every read first (a few rectangles), then every write: one layout per drawing, however long the text.
    const origin = text.getBoundingClientRect();
    const boxes = {};
    const box = (id) => boxes[id] || (boxes[id] = boxesOf(id, origin, text));
    const arcs = rels
      .map((r) => ({ r: r, pair: closestPair(box(r.dataset.h), box(r.dataset.t)) }))
      .filter((a) => a.pair);
    const width = text.scrollWidth;
    const height = text.scrollHeight;
    clearArcs();
    const svg = arcLayer();
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    arcs.forEach(({ r, pair }) => {
      const x1 = pair.h.x + pair.h.w / 2;
      const y1 = pair.h.y + 2;
      const x2 = pair.t.x + pair.t.w / 2;
      const y2 = pair.t.y + 2;
      const lift = 14 + Math.min(40, Math.abs(x2 - x1) / 10) + Math.abs(y2 - y1) / 6;
      const top = Math.min(y1, y2) - lift;
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", "M" + x1 + "," + y1 + " C" + x1 + "," + top + " " + x2 + "," + top + " " + x2 + "," + y2);
      path.setAttribute("class", "arc st-" + statusOf(r));
      path.setAttribute("marker-end", "url(#arc-head)");
      path.dataset.rel = r.dataset.id;
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("class", "arc-label st-" + statusOf(r));
      label.setAttribute("x", (x1 + x2) / 2);
      label.setAttribute("y", top + lift * 0.25);
      label.setAttribute("text-anchor", "middle");
      label.textContent = (r.querySelector(".rtype") || { textContent: "" }).textContent.replace(/^—|→$/g, "");
      svg.append(path, label);
    });
  }

  // From focus changes and redraws, once per frame: the decision's answer is on screen first, the arcs follow.
  let arcsFrame = 0;
  function scheduleArcs(rowId) {
    arcsOf = rowId || null;
    cancelAnimationFrame(arcsFrame);
    arcsFrame = requestAnimationFrame(() => drawArcs(arcsOf));
  }

  // Drag from one mention to another: a relation from the first entity to the second (Shift+drag selects text).
  let drag = null;
  function onTextMouseDown(e) {
    const seg = e.target.closest("#wb-text .m");
    if (!seg || e.button !== 0 || e.shiftKey || !canAct()) return;
    drag = { from: seg.dataset.p, x: e.clientX, y: e.clientY, moved: false };
  }
  function onTextMouseMove(e) {
    if (!drag) {
      const seg = e.target.closest("#wb-text .m");
      const row = seg ? null : e.target.closest("#wb-panel .items > .item.ent");
      const want = seg ? "e-" + seg.dataset.p : row ? row.id : focusedArcs();
      if (want !== arcsOf) drawArcs(want);
      return;
    }
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) < 6) return;
    drag.moved = true;
    const text = $("#wb-text");
    const origin = text.getBoundingClientRect();
    const svg = arcLayer();
    let line = $(".arc-drag", svg);
    if (!line) {
      line = document.createElementNS(SVG, "line");
      line.setAttribute("class", "arc-drag");
      svg.appendChild(line);
      svg.setAttribute("width", text.scrollWidth);
      svg.setAttribute("height", text.scrollHeight);
    }
    line.setAttribute("x1", drag.x - origin.left + text.scrollLeft);
    line.setAttribute("y1", drag.y - origin.top + text.scrollTop);
    line.setAttribute("x2", e.clientX - origin.left + text.scrollLeft);
    line.setAttribute("y2", e.clientY - origin.top + text.scrollTop);
  }
  function onTextMouseUp(e) {
    const d = drag;
    drag = null;
    const line = $("#wb-arcs .arc-drag");
    if (line) line.remove();
    if (!d || !d.moved) return;
    const seg = e.target.closest && e.target.closest("#wb-text .m");
    if (!seg || seg.dataset.p === d.from) return;
    const head = document.getElementById("e-" + d.from);
    const tail = document.getElementById("e-" + seg.dataset.p);
    if (!head || !tail) return;
    window.getSelection().removeAllRanges();
    focusItem(head, false);
    relationBetween(head, tail);
  }
  const focusedArcs = () => {
    const row = focused();
    return row ? row.id : null;
  };

  // --- progress -----------------------------------------------------------------------------------------

  // This document's items left (from the state bar) and the project's, which is the rest of the project
  // (counted when the page was drawn) plus this document while it is still to review.
  function updateProgress() {
    const box = $("#wb-progress");
    if (!box) return;
    const todo = Number(($("#todo-count") || { textContent: "0" }).textContent) || 0;
    const open = ["new", "annotated", "in_review"].includes(state().dataset.status);
    $("#doc-items-left").textContent = todo;
    $("#project-items-left").textContent = Number(box.dataset.itemsElsewhere) + (open ? todo : 0);
    $("#project-docs-left").textContent = Number(box.dataset.docsElsewhere) + (open ? 1 : 0);
  }

  // --- actions ------------------------------------------------------------------------------------------

  async function accept(status) {
    const row = focused();
    if (!row) return hint("Focus an item first (j / k).");
    const ok = await decide(row.dataset.kind, row.dataset.id, status);
    if (ok) move(1, true);
  }

  async function retype() {
    const row = focused();
    if (!row) return hint("Focus an item first (j / k).");
    if (row.dataset.kind === "entity") {
      const t = await pick("Entity type for " + row.dataset.name, entityTypes(), { numbered: true, preselect: row.dataset.type });
      if (t) {
        rememberType("entity", t);
        await decide("entity", row.dataset.id, "retype", { type: t });
      }
    } else {
      const allowed = (row.dataset.types || "").split(" ").filter(Boolean);
      const names = Object.fromEntries($$("#relation-types li").map((li) => [li.dataset.code, li.textContent]));
      const options = numbered(allowed.map((c) => ({ label: names[c] + " · " + c, value: c })));
      if (!options.length) return hint("The schema allows no relation type for this head and tail.");
      const t = await pick("Relation type", options, { numbered: true, preselect: row.dataset.type });
      if (t) {
        rememberType("relation", t);
        await decide("relation", row.dataset.id, "retype", { type: t });
      }
    }
    applyFocus(false);
  }

  async function editEvidence() {
    const row = focused();
    if (!row || row.dataset.kind !== "relation") return hint("Focus a relation to edit its evidence.");
    const current = (row.dataset.ev || "").split(" ").filter(Boolean).join(", ");
    const value = await pick("Evidence sentences (numbers, comma separated)", [], { input: current, freeText: true });
    if (value !== null) await decide("relation", row.dataset.id, "evidence", { evidence: value });
    applyFocus(false);
  }

  async function createEntity() {
    const root = $("#wb-text");
    let span = ConcordOffsets.selectionToSpan(root, window.getSelection());
    if (!span) {
      const chosen = await pick("Find the text to mark", [], {
        freeText: false,
        placeholder: "type the text, then choose the occurrence",
        onInput: (value, update) => update(occurrences(value)),
      });
      if (!chosen) return;
      span = chosen.split(":").map(Number);
    }
    // Refused here, before a type is chosen: the server would refuse it after.
    if (!withinOneSentence(span[0], span[1])) return hint("A mention cannot cross sentences: select text within one sentence.");
    const options = entityTypes();
    const row = focused();
    if (row && row.dataset.kind === "entity") options.unshift({ label: "+ another mention of " + row.dataset.name, value: "@mention", key: "0" });
    const t = await pick("Type of the new entity", options, { numbered: true, preselect: lastType("entity") });
    if (!t) return;
    window.getSelection().removeAllRanges();
    if (t === "@mention") {
      await decide("entity", row.dataset.id, "add_mention", { start: span[0], end: span[1] });
      return applyFocus(false);
    }
    rememberType("entity", t);
    const ok = await decide("entity", null, "create", { start: span[0], end: span[1], type: t });
    // The new entity takes the focus, so r (a relation from it) follows at once.
    const created = ok ? document.getElementById("e-" + state().dataset.created) : null;
    if (created) focusItem(created);
    else applyFocus(false);
  }

  function withinOneSentence(start, end) {
    return $$("#wb-text .sent").some((sent) => {
      const s = sentenceStart(sent);
      return s <= start && end <= s + ConcordOffsets.codePointLength(sent.textContent);
    });
  }

  async function createRelation() {
    const row = focused();
    if (!row || row.dataset.kind !== "entity") return hint("Focus the head entity first, then press r.");
    const tailId = await pick("Tail of the relation from " + row.dataset.name, entityRows(row.dataset.id));
    if (!tailId) return;
    await relationBetween(row, document.getElementById("e-" + tailId));
  }

  // The type list for a new relation from `head` to `tail` (entity rows), then the relation.
  async function relationBetween(head, tail) {
    if (!canAct()) return hint("This document is read only for you.");
    const options = relationTypeOptions(head.dataset.type, tail.dataset.type);
    if (!options.length) return hint("The schema allows no relation from " + head.dataset.type + " to " + tail.dataset.type + ".");
    const t = await pick(head.dataset.name + " → " + tail.dataset.name + ": type", options, { numbered: true, preselect: lastType("relation") });
    if (t) {
      rememberType("relation", t);
      await decide("relation", null, "create", { head: head.dataset.id, tail: tail.dataset.id, type: t });
    }
    applyFocus(false);
  }

  async function merge() {
    const row = focused();
    if (!row || row.dataset.kind !== "entity") return hint("Focus the entity to merge away, then press m.");
    const into = await pick("Merge " + row.dataset.name + " into…", entityRows(row.dataset.id));
    if (into && (await decide("entity", row.dataset.id, "merge", { into: into }))) {
      focusedId = "e-" + into;
      applyFocus(true);
    }
  }

  async function remove() {
    const row = focused();
    if (!row) return hint("Focus an item first (j / k).");
    const label = row.dataset.kind === "entity" ? row.dataset.name : "this relation";
    const ok = await pick("Delete " + label + "? (reject keeps it in the record; delete removes it)", [
      { label: "Delete", value: "yes" },
      { label: "Cancel", value: null },
    ]);
    if (ok === "yes" && (await decide(row.dataset.kind, row.dataset.id, "delete"))) focusItem(null);
  }

  async function mentions() {
    const row = focused();
    if (!row || row.dataset.kind !== "entity") return hint("Focus an entity to edit its mentions.");
    // data-mentions: "id:start:end:sentence" for each mention, code points.
    const spans = (row.dataset.mentions || "").split(" ").filter(Boolean).map((m) => {
      const [id, start, end, sentence] = m.split(":");
      return { id: id, start: Number(start), end: Number(end), sentence: sentence, text: textOf(Number(start), Number(end)) };
    });
    if (!spans.length) return hint("This entity has no mention in the text.");
    const mention = await pick("Mentions of " + row.dataset.name, spans.map((m) => ({ label: m.text, hint: "S" + m.sentence + " · " + m.start + "–" + m.end, value: m })));
    if (!mention) return;
    const action = await pick("“" + mention.text + "”", [
      { label: "Adjust boundaries", value: "adjust" },
      { label: "Split off as a new entity", value: "split" },
      { label: "Remove this mention", value: "delete" },
    ]);
    if (action === "adjust") {
      const span = await adjust(mention);
      if (span) await decide("mention", mention.id, "adjust", { start: span[0], end: span[1] });
    } else if (action) {
      await decide("mention", mention.id, action);
    }
    applyFocus(false);
  }

  function textOf(start, end) {
    let out = "";
    $$("#wb-text [data-s]").forEach((seg) => {
      const s = Number(seg.dataset.s);
      const t = seg.textContent;
      const len = ConcordOffsets.codePointLength(t);
      if (s + len <= start || s >= end) return;
      const a = ConcordOffsets.codePointsToUtf16(t, Math.max(0, start - s));
      const b = ConcordOffsets.codePointsToUtf16(t, Math.min(len, end - s));
      out += t.slice(a, b);
    });
    return out;
  }

  // Boundaries from the keyboard: ←/→ move the start, Shift+←/→ the end; Enter saves, Esc cancels.
  function adjust(mention) {
    let start = mention.start;
    let end = mention.end;
    const length = Number(wb.dataset.textLength);
    function onArrow(e) {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault();
      e.stopPropagation();
      const d = e.key === "ArrowLeft" ? -1 : 1;
      if (e.shiftKey) end = Math.min(length, Math.max(start + 1, end + d));
      else start = Math.max(0, Math.min(end - 1, start + d));
      $("#picker-filter").value = textOf(start, end);
    }
    const result = pick("Adjust “" + mention.text + "”", [], {
      freeText: true,
      keys: "←/→ move the start · Shift+←/→ the end · Enter save · Esc cancel",
      input: mention.text,
      onInput: () => {},
    }).then((v) => (v === null ? null : [start, end]))
      .finally(() => document.removeEventListener("keydown", onArrow, true));
    document.addEventListener("keydown", onArrow, true); // after pick() has opened the dialog
    return result;
  }

  async function bulkAcceptAgreed() {
    if (blindPass()) return hint("Blind pass: there are no proposals to accept until you finish it (Shift+F).");
    // Audit items are there to be looked at: accepting them unseen defeats the spot check, so ask first.
    const agreed = $$("#wb-panel .items > .item.st-proposed.ag-agreed");
    const audits = agreed.filter((r) => r.querySelector(".pv.audit")).length;
    if (audits) {
      const ok = await pick(
        "Accept all " + agreed.length + " agreed item(s)? " + audits + " of them are flagged for audit (a spot check of the routing): look at them first?",
        [
          { label: "Cancel: I will look at the audit items first", value: null },
          { label: "Accept all " + agreed.length + ", the audit items too", value: "yes" },
        ]
      );
      if (ok !== "yes") return;
    }
    await decide("document", null, "accept_agreed");
    applyFocus(false);
  }

  async function rejectFromAnnotator() {
    const select = $("#reject-annotator");
    if (select) await decide("document", null, "reject_annotator", { annotator: select.value });
  }

  async function submitDocument() {
    if (!canAct()) return hint("This document is read only for you.");
    if (blindPass()) return hint("Finish the blind pass first (Shift+F): then review the proposals and submit.");
    const todo = $("#todo-count") ? $("#todo-count").textContent : "0";
    const ok = await pick("Submit: the document becomes curated" + (todo !== "0" ? "; the " + todo + " item(s) still to review will be rejected" : ""), [
      { label: "Submit", value: "yes" },
      { label: "Cancel", value: null },
    ]);
    if (ok === "yes") await send("/submit", {});
  }

  async function finishBlind() {
    if (!canAct()) return hint("This document is read only for you.");
    if (!blindPass()) return hint("This document is not in a blind pass.");
    const ok = await pick("Finish the blind pass: the models' proposals appear, and those identical to yours are accepted", [
      { label: "Finish blind pass", value: "yes" },
      { label: "Cancel", value: null },
    ]);
    if (ok === "yes" && (await send("/finish-blind", {}))) {
      focusItem(null);
      hint("The proposals are shown: review them, then submit.");
    }
  }

  function nextDocument() {
    $("#wb-next").requestSubmit();
  }

  function toggleHelp() {
    const help = $("#wb-help");
    if (help.open) return help.close();
    help.showModal();
    // Opened at its top, even in a short window (the Close button at the bottom would take the focus).
    help.scrollTop = 0;
    $("#help-title").focus();
  }

  const COMMANDS = {
    accept: () => accept("accept"),
    reject: () => accept("reject"),
    "accept-agreed": bulkAcceptAgreed,
    "reject-annotator": rejectFromAnnotator,
    undo: () => send("/undo", {}),
    submit: submitDocument,
    "finish-blind": finishBlind,
    next: nextDocument,
    help: toggleHelp,
  };

  const KEYS = {
    j: () => move(1, true),
    k: () => move(-1, true),
    J: () => move(1, false),
    K: () => move(-1, false),
    a: () => accept("accept"),
    x: () => accept("reject"),
    t: retype,
    e: editEvidence,
    s: () => {
      const row = focused();
      if (row && row.dataset.kind === "relation") decide("relation", row.dataset.id, "swap").then(() => applyFocus(false));
      else hint("Focus a relation to swap its direction.");
    },
    c: createEntity,
    r: createRelation,
    m: merge,
    b: mentions,
    d: remove,
    A: bulkAcceptAgreed,
    S: submitDocument,
    F: finishBlind,
    u: () => send("/undo", {}),
    n: nextDocument,
    "?": toggleHelp,
    Escape: () => focusItem(null),
  };

  function onKeydown(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.closest("dialog") || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName) || t.isContentEditable)) return;
    const fn = KEYS[e.key];
    if (!fn) return;
    e.preventDefault();
    hint("");
    fn();
  }

  function onClick(e) {
    const actBtn = e.target.closest("[data-act]");
    const row = e.target.closest("#wb-panel .items > .item");
    if (actBtn && row) {
      focusItem(row, false);
      decide(row.dataset.kind, row.dataset.id, actBtn.dataset.act).then(() => applyFocus(false));
      return;
    }
    if (row) return focusItem(row);
    const cmd = e.target.closest("[data-cmd]");
    if (cmd && COMMANDS[cmd.dataset.cmd]) return COMMANDS[cmd.dataset.cmd]();
    const seg = e.target.closest("#wb-text .m");
    if (seg && window.getSelection().isCollapsed) {
      const ent = document.getElementById("e-" + seg.dataset.p);
      if (ent) focusItem(ent, false), applyFocus(false), ent.scrollIntoView({ block: "nearest" });
    }
  }

  function init() {
    wb = document.getElementById("workbench");
    if (!wb) return;
    document.addEventListener("keydown", onKeydown);
    wb.addEventListener("click", onClick);
    document.body.addEventListener("htmx:afterRequest", (e) => {
      if (e.detail.elt === wb || wb.contains(e.detail.elt)) lastOk = e.detail.successful;
    });
    document.body.addEventListener("htmx:afterSettle", () => {
      applyFocus(false);
      updateProgress();
    });
    const main = $("#wb-main");
    main.addEventListener("mousedown", onTextMouseDown);
    main.addEventListener("mousemove", onTextMouseMove);
    document.addEventListener("mouseup", onTextMouseUp);
    $("#wb-text") && main.addEventListener("mouseleave", () => drawArcs(focusedArcs()));
    let resizing = 0;
    window.addEventListener("resize", () => {
      cancelAnimationFrame(resizing);
      resizing = requestAnimationFrame(() => drawArcs(arcsOf));
    });
    const box = agreedTooBox();
    if (box) {
      box.checked = agreedToo();
      box.addEventListener("change", () => {
        setAgreedToo(box.checked);
        box.blur(); // the keys work again at once
      });
    }
    updateProgress();
    wb.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", init);
})();
