// The label schema as a form, kept in step with the JSON textarea both ways. The textarea is what the page
// posts and the server validates (one source of truth); without this script it works alone. No inline code.
(function () {
  "use strict";

  const ENTITY_FIELDS = [
    { key: "code", label: "Code", size: 8 },
    { key: "name", label: "Name", size: 10 },
    { key: "color", label: "Colour", kind: "color" },
    { key: "description", label: "Description", size: 24 },
  ];
  const RELATION_FIELDS = [
    { key: "code", label: "Code", size: 8 },
    { key: "name", label: "Name", size: 10 },
    { key: "description", label: "Description", size: 20 },
    { key: "head_types", label: "Head types", kind: "codes" },
    { key: "tail_types", label: "Tail types", kind: "codes" },
    { key: "symmetric", label: "Symmetric", kind: "bool" },
  ];
  const DEFAULT_COLOR = "#8a8f98";
  const HEX = /^#[0-9a-fA-F]{6}$/;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function codesOf(text) {
    return text.split(/[\s,，、;]+/).filter((c) => c.length > 0);
  }

  // One editor per textarea: `schema` is the object the form shows; every edit writes it back as JSON.
  function Editor(box, textarea) {
    this.box = box;
    this.textarea = textarea;
    this.schema = null;
  }

  Editor.prototype.read = function () {
    const text = this.textarea.value.trim();
    if (!text) return { entity_types: [], relation_types: [] };
    try {
      const data = JSON.parse(text);
      if (data && typeof data === "object" && !Array.isArray(data)) return data;
    } catch (e) {
      /* shown below: the form waits for valid JSON */
    }
    return null;
  };

  Editor.prototype.write = function () {
    this.textarea.value = JSON.stringify(this.schema, null, 2);
  };

  Editor.prototype.render = function () {
    const schema = this.read();
    this.box.replaceChildren();
    if (schema === null) {
      this.schema = null;
      this.box.append(el("p", { class: "muted small", id: "schema-editor-waiting" },
        "The JSON below is not valid yet; the form follows it again once it is."));
      return;
    }
    this.schema = schema;
    if (!Array.isArray(schema.entity_types)) schema.entity_types = [];
    if (!Array.isArray(schema.relation_types)) schema.relation_types = [];
    this.box.append(this.table("entity_types", "Entity types", ENTITY_FIELDS, "Add entity type"));
    this.box.append(this.table("relation_types", "Relation types", RELATION_FIELDS, "Add relation type"));
    this.hint = el("p", { class: "muted small schema-hint" });
    this.box.append(this.hint);
    this.showKnown();
  };

  Editor.prototype.showKnown = function () {
    const known = this.schema.entity_types.map((t) => t && t.code).filter(Boolean).join(", ");
    this.hint.textContent = "Head and tail types: entity type codes separated by spaces or commas (empty: any)" +
      (known ? "; known: " + known + "." : ".");
  };

  Editor.prototype.table = function (listKey, title, fields, addLabel) {
    const section = el("section", { class: "schema-part", "data-list": listKey });
    section.append(el("h3", {}, title));
    const table = el("table", { class: "table compact schema-table" });
    const head = el("tr");
    for (const f of fields) head.append(el("th", { scope: "col" }, f.label));
    head.append(el("th", { scope: "col" }, ""));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    this.schema[listKey].forEach((item, i) => body.append(this.row(listKey, i, item, fields)));
    table.append(body);
    section.append(table);
    const add = el("button", { type: "button", class: "add-type" }, addLabel);
    add.addEventListener("click", () => {
      const fresh = listKey === "entity_types"
        ? { code: "", name: "", color: DEFAULT_COLOR }
        : { code: "", name: "", head_types: [], tail_types: [], symmetric: false };
      this.schema[listKey].push(fresh);
      this.write();
      this.render();
      const rows = this.box.querySelectorAll(`[data-list="${listKey}"] tbody tr`);
      const first = rows[rows.length - 1].querySelector("input");
      if (first) first.focus();
    });
    section.append(add);
    return section;
  };

  Editor.prototype.row = function (listKey, i, item, fields) {
    const tr = el("tr");
    const singular = listKey === "entity_types" ? "Entity type" : "Relation type";
    for (const f of fields) {
      const td = el("td");
      const path = `${listKey}[${i}].${f.key}`;
      const label = `${singular} ${i + 1}, ${f.label.toLowerCase()}`;
      const value = item ? item[f.key] : undefined;
      if (f.kind === "bool") {
        const box = el("input", { type: "checkbox", "data-path": path, "aria-label": label });
        box.checked = value === true;
        box.addEventListener("change", () => this.set(listKey, i, f.key, box.checked));
        td.append(box);
      } else if (f.kind === "color") {
        const text = el("input", { type: "text", size: "8", "data-path": path, "aria-label": label });
        text.value = typeof value === "string" ? value : "";
        const picker = el("input", { type: "color", "aria-label": label + " (picker)" });
        picker.value = HEX.test(text.value) ? text.value.toLowerCase() : DEFAULT_COLOR;
        text.addEventListener("input", () => {
          if (HEX.test(text.value)) picker.value = text.value.toLowerCase();
          this.set(listKey, i, f.key, text.value);
        });
        picker.addEventListener("input", () => {
          text.value = picker.value;
          this.set(listKey, i, f.key, picker.value);
        });
        td.append(picker, text);
      } else {
        const attrs = { type: "text", size: String(f.size || 12), "data-path": path, "aria-label": label };
        if (f.kind === "codes") attrs.placeholder = "any";
        const input = el("input", attrs);
        input.value = Array.isArray(value) ? value.join(" ") : value === undefined || value === null ? "" : String(value);
        input.addEventListener("input", () => {
          this.set(listKey, i, f.key, f.kind === "codes" ? codesOf(input.value) : input.value);
        });
        td.append(input);
      }
      tr.append(td);
    }
    const removeLabel = `Remove ${singular.toLowerCase()} ${i + 1}`;
    const remove = el("button", { type: "button", class: "remove-type", "aria-label": removeLabel }, "Remove");
    remove.addEventListener("click", () => {
      this.schema[listKey].splice(i, 1);
      this.write();
      this.render();
    });
    const cell = el("td");
    cell.append(remove);
    tr.append(cell);
    return tr;
  };

  Editor.prototype.set = function (listKey, i, key, value) {
    let item = this.schema[listKey][i];
    if (!item || typeof item !== "object") item = this.schema[listKey][i] = {};
    // An optional text left empty is left out, as a hand-written schema would.
    if (key === "description" && value === "") delete item[key];
    else item[key] = value;
    this.write();
    if (listKey === "entity_types" && key === "code") this.showKnown();
  };

  // The server names each problem by its field path (data-field on the error list): put it beside that input.
  Editor.prototype.placeErrors = function () {
    const alert = document.querySelector(".alert.error");
    if (!alert) return;
    const items = alert.querySelectorAll("li[data-field^='schema.']");
    for (const li of items) {
      const path = li.dataset.field.slice("schema.".length).replace(/(_types)\[\d+\]$/, "$1");
      const input = this.box.querySelector(`[data-path="${CSS.escape(path)}"]`);
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      const note = el("p", { class: "field-error", "data-field": li.dataset.field }, li.textContent);
      input.closest("td").append(note);
      li.remove();
    }
    const list = alert.querySelector("ul.error-items");
    if (list && list.children.length === 0) {
      list.remove();
      alert.querySelector("p").textContent = "Invalid schema: see the fields marked in the form.";
    }
  };

  function init() {
    for (const box of document.querySelectorAll(".schema-editor[data-for]")) {
      const textarea = document.querySelector(`textarea[name="${box.dataset.for}"]`);
      if (!textarea) continue;
      const editor = new Editor(box, textarea);
      editor.render();
      editor.placeErrors();
      textarea.addEventListener("input", () => editor.render());
      box.hidden = false;
    }
  }

  document.addEventListener("DOMContentLoaded", init);
})();
