// Offsets: the server speaks Python code points, the DOM speaks UTF-16 code units. This is the only place
// that converts between them; characters outside the BMP (𠮷, emoji) are one code point but two units.
"use strict";
(function (global) {
  // Code points in the first `units` UTF-16 units of `text`; an index inside a surrogate pair is refused.
  function utf16ToCodePoints(text, units) {
    if (units < 0 || units > text.length) throw new RangeError("offset " + units + " is outside the text");
    let cp = 0;
    for (let i = 0; i < units; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          if (i + 1 === units) throw new RangeError("offset " + units + " splits a surrogate pair");
          i++;
        }
      }
      cp++;
    }
    return cp;
  }

  // UTF-16 units of the first `points` code points of `text`.
  function codePointsToUtf16(text, points) {
    if (points < 0) throw new RangeError("offset " + points + " is negative");
    let units = 0;
    for (let cp = 0; cp < points; cp++) {
      if (units >= text.length) throw new RangeError("offset " + points + " is past the end of the text");
      const c = text.charCodeAt(units);
      units += c >= 0xd800 && c <= 0xdbff && units + 1 < text.length ? 2 : 1;
    }
    return units;
  }

  function codePointLength(text) {
    return utf16ToCodePoints(text, text.length);
  }

  // The code-point offset of a DOM position inside the review text: the nearest element carrying data-s
  // (its code-point start) plus the code points of the text before the position within that element.
  function domPointToOffset(node, offset) {
    let el = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (node.nodeType !== Node.TEXT_NODE) {
      // A position between children: take the child at `offset` (or the end of the previous one).
      const child = node.childNodes[offset];
      if (child && child.nodeType === Node.ELEMENT_NODE && child.dataset && child.dataset.s !== undefined) {
        return Number(child.dataset.s);
      }
      const prev = node.childNodes[offset - 1];
      if (prev && prev.nodeType === Node.ELEMENT_NODE && prev.dataset && prev.dataset.s !== undefined) {
        return Number(prev.dataset.s) + codePointLength(prev.textContent);
      }
    }
    while (el && (!el.dataset || el.dataset.s === undefined)) el = el.parentElement;
    if (!el) return null;
    // The text of `el` before the position, whether the position is in a text node or between children
    // (the end of a piece is often (piece, 1), not (its text, length)).
    const before = document.createRange();
    before.setStart(el, 0);
    before.setEnd(node, offset);
    return Number(el.dataset.s) + utf16ToCodePoints(el.textContent, before.toString().length);
  }

  // The selection inside `root` as [start, end) code points, or null when there is none.
  function selectionToSpan(root, selection) {
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0);
    if (!root.contains(range.startContainer) || !root.contains(range.endContainer)) return null;
    const start = domPointToOffset(range.startContainer, range.startOffset);
    const end = domPointToOffset(range.endContainer, range.endOffset);
    if (start === null || end === null || end <= start) return null;
    return [start, end];
  }

  global.ConcordOffsets = { utf16ToCodePoints, codePointsToUtf16, codePointLength, domPointToOffset, selectionToSpan };
})(window);
