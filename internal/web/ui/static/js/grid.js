// The result grid: every streamed row up to the row limit, kept as the
// arrays the stream parsed, with only the rows in view in the DOM (a
// spacer row above and below stands for the others). A sticky header;
// columns resized by dragging or with the arrow keys on their edge, hidden
// from the Columns menu, sorted in the browser by a click (with a note
// when the result was cut); cells navigated with the keyboard (arrows,
// Page Up/Down, Home/End, Shift to select), a cell, a row or a selection
// copied as TSV, CSV or JSON, and a long or JSON value read in a side
// panel. Values are shown by the one rule of format.js. Every text goes
// in with textContent: a value can never become markup.
import { FORMAT_RULE, comparator, copyText, expanded, formatValue, isLong, isNumericType } from './format.js';

const ROW_H = 28; // px, fixed: the window of rows is computed, not measured
const OVERSCAN = 8;

/**
 * h makes an element: attrs are attributes, but for text (its text,
 * never markup) and class; kids are appended.
 */
export function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
}

/** Grid renders one streamed result into a container. */
export class Grid {
  constructor(container) {
    this.container = container;
    this.copyFormat = h('select', { id: 'copy-format', 'aria-label': 'Copy as' },
      h('option', { value: 'tsv', text: 'TSV' }), h('option', { value: 'csv', text: 'CSV' }), h('option', { value: 'json', text: 'JSON' }));
    this.columnList = h('div', { class: 'grid-column-list', role: 'group', 'aria-label': 'Columns shown' });
    this.columnsMenu = h('details', { class: 'grid-columns' }, h('summary', { text: 'Columns' }), this.columnList);
    this.note = h('span', { class: 'grid-note', id: 'grid-note', role: 'status' });
    const copyButton = (id, label, what) => {
      const b = h('button', { type: 'button', id, class: 'secondary small', text: label });
      b.addEventListener('click', () => this.copy(what));
      return b;
    };
    this.tools = h('div', { class: 'grid-tools' }, this.columnsMenu,
      h('span', { class: 'grid-copy' }, h('label', { for: 'copy-format', text: 'Copy' }), this.copyFormat,
        copyButton('copy-cell', 'Cell', 'cell'), copyButton('copy-row', 'Row', 'row'), copyButton('copy-selection', 'Selection', 'selection')),
      this.note);
    this.colgroup = h('colgroup');
    this.thead = h('thead');
    this.tbody = h('tbody');
    this.table = h('table', { id: 'results', class: 'grid', role: 'grid', tabindex: '0', 'aria-label': 'Result', 'aria-describedby': 'grid-keys' },
      this.colgroup, this.thead, this.tbody);
    this.scroller = h('div', { class: 'grid-scroll' }, this.table);
    this.panelTitle = h('h2', { id: 'cell-panel-title' });
    this.panelBody = h('pre', { class: 'mono', tabindex: '0' });
    const close = h('button', { type: 'button', class: 'secondary small', id: 'cell-panel-close', text: 'Close' });
    close.addEventListener('click', () => this.closePanel());
    this.panel = h('aside', { class: 'cell-panel', id: 'cell-panel', 'aria-labelledby': 'cell-panel-title', hidden: '' },
      h('div', { class: 'cell-panel-head' }, this.panelTitle, close), this.panelBody);
    this.help = h('p', { class: 'help grid-help', id: 'grid-keys' },
      'Arrow keys move between cells, Shift+arrows select, Enter opens a long value, Ctrl+C copies. ', FORMAT_RULE);
    this.root = h('div', { class: 'result-grid' }, this.tools, h('div', { class: 'grid-body' }, this.scroller, this.panel), this.help);
    container.replaceChildren(this.root);
    this.locale = undefined;
    this.pendingCopy = null;
    this.wire();
    this.reset();
  }

  /** reset empties the grid for a new result. */
  reset() {
    this.columns = [];
    this.rows = [];
    this.order = null; // view index → row index when sorted
    this.sort = null; // {col, dir}
    this.visible = [];
    this.widths = [];
    this.active = { r: 0, c: 0 };
    this.anchor = null;
    this.truncated = false;
    this.finished = false;
    this.win = null;
    this.colgroup.replaceChildren();
    this.thead.replaceChildren();
    this.tbody.replaceChildren();
    this.columnList.replaceChildren();
    this.note.textContent = '';
    this.closePanel();
    this.scroller.scrollTop = 0;
    this.scroller.scrollLeft = 0;
  }

  /** show or hide the whole grid (a statement without rows, an HTTP response). */
  set hidden(on) { this.root.hidden = on; }

  get hidden() { return this.root.hidden; }

  /** rowCount is how many rows were loaded. */
  get rowCount() { return this.rows.length; }

  setColumns(cols) {
    this.columns = cols.map((c) => ({ name: c.name, type: c.type || '', numeric: isNumericType(c.type) }));
    this.visible = this.columns.map((_, i) => i);
    this.widths = this.columns.map((c) => Math.min(320, Math.max(72, c.name.length * 8 + 40)));
    this.columnList.replaceChildren(...this.columns.map((c, i) => {
      const box = h('input', { type: 'checkbox', id: `grid-col-${i}` });
      box.checked = true;
      box.addEventListener('change', () => this.showColumn(i, box.checked));
      return h('div', { class: 'check' }, box, h('label', { for: `grid-col-${i}`, text: c.name }));
    }));
    this.renderHeader();
    this.render(true);
  }

  /** push adds one row (the array the stream parsed, kept as it is). */
  push(row) {
    if (this.rows.length < 50) this.fitWidths(row);
    this.rows.push(row);
  }

  /** flush draws what arrived since the last call (once per network chunk). */
  flush() {
    if (this.rows.length <= 50) this.applyWidths();
    this.render(false);
  }

  /** done marks the end of the result. */
  done({ truncated }) {
    this.truncated = !!truncated;
    this.finished = true;
    if (this.sort) this.applySort();
    this.render(true);
  }

  // ---- columns ----

  fitWidths(row) {
    for (let i = 0; i < this.columns.length; i++) {
      const { text } = formatValue(row[i], this.columns[i].type, this.locale);
      const w = Math.min(320, Math.max(72, Math.min(text.length, 40) * 8 + 24));
      if (w > this.widths[i]) this.widths[i] = w;
    }
  }

  applyWidths() {
    const cols = this.colgroup.children;
    let total = 0;
    this.visible.forEach((c, i) => {
      if (cols[i]) cols[i].style.width = `${this.widths[c]}px`;
      total += this.widths[c];
    });
    this.table.style.width = `${total}px`;
  }

  showColumn(i, on) {
    const set = new Set(this.visible);
    if (on) set.add(i); else set.delete(i);
    this.visible = [...set].sort((a, b) => a - b);
    this.active.c = Math.min(this.active.c, Math.max(0, this.visible.length - 1));
    this.anchor = null;
    this.renderHeader();
    this.render(true);
  }

  renderHeader() {
    this.colgroup.replaceChildren(...this.visible.map(() => h('col')));
    const tr = h('tr', { 'aria-rowindex': '1' });
    this.visible.forEach((c, vi) => {
      const col = this.columns[c];
      const dir = this.sort && this.sort.col === c ? this.sort.dir : 0;
      const button = h('button', { type: 'button', class: 'sort', title: `${col.type || 'type unknown'} — sort` },
        h('span', { class: 'name', text: col.name }), h('span', { class: 'arrow', 'aria-hidden': 'true', text: dir > 0 ? ' ▲' : dir < 0 ? ' ▼' : '' }));
      button.addEventListener('click', () => this.toggleSort(c));
      const handle = h('span', { class: 'resize', role: 'separator', tabindex: '0', 'aria-orientation': 'vertical',
        'aria-label': `Width of ${col.name}`, 'aria-valuenow': String(this.widths[c]), 'aria-valuemin': '48', 'aria-valuemax': '2000' });
      this.wireResize(handle, c);
      const th = h('th', { scope: 'col', role: 'columnheader', 'aria-colindex': String(vi + 1), class: col.numeric ? 'num' : '' }, button, handle);
      if (dir) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      tr.append(th);
    });
    this.thead.replaceChildren(tr);
    this.table.setAttribute('aria-colcount', String(this.visible.length));
    this.applyWidths();
  }

  wireResize(handle, c) {
    const set = (w) => {
      this.widths[c] = Math.max(48, Math.min(2000, Math.round(w)));
      handle.setAttribute('aria-valuenow', String(this.widths[c]));
      this.applyWidths();
    };
    handle.addEventListener('pointerdown', (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      const x0 = ev.clientX;
      const w0 = this.widths[c];
      handle.setPointerCapture(ev.pointerId);
      const move = (e) => set(w0 + e.clientX - x0);
      const up = () => {
        handle.removeEventListener('pointermove', move);
        handle.removeEventListener('pointerup', up);
        handle.removeEventListener('pointercancel', up);
      };
      handle.addEventListener('pointermove', move);
      handle.addEventListener('pointerup', up);
      handle.addEventListener('pointercancel', up);
    });
    handle.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
        ev.preventDefault();
        ev.stopPropagation();
        set(this.widths[c] + (ev.key === 'ArrowRight' ? 16 : -16));
      }
    });
    handle.addEventListener('click', (ev) => ev.stopPropagation());
  }

  // ---- sorting (in the browser, of the rows loaded) ----

  toggleSort(c) {
    const dir = this.sort && this.sort.col === c ? this.sort.dir : 0;
    const next = dir === 0 ? 1 : dir === 1 ? -1 : 0;
    this.sort = next ? { col: c, dir: next } : null;
    this.applySort();
    this.renderHeader();
    this.render(true);
  }

  applySort() {
    if (!this.sort) {
      this.order = null;
      this.note.textContent = '';
      return;
    }
    const { col, dir } = this.sort;
    const cmp = comparator(this.columns[col].type);
    const rows = this.rows;
    const order = new Uint32Array(rows.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    // A stable sort: rows that compare equal keep the order the
    // datasource sent them in.
    order.sort((a, b) => dir * cmp(rows[a][col], rows[b][col]) || a - b);
    this.order = order;
    const n = rows.length.toLocaleString(this.locale);
    let note = `Sorted by ${this.columns[col].name} in the browser: the ${n} rows loaded.`;
    if (this.truncated) note += ' The result was cut at the row limit, so rows beyond it are not in this order: sort in the query (ORDER BY) to see them.';
    else if (!this.finished) note += ' Rows still arriving are added at the end.';
    this.note.textContent = note;
  }

  rowAt(vi) {
    return this.rows[this.order && vi < this.order.length ? this.order[vi] : vi];
  }

  // ---- the window of rows in view ----

  render(force) {
    const n = this.rows.length;
    const top = this.scroller.scrollTop;
    const viewH = this.scroller.clientHeight || 600;
    const start = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const end = Math.min(n, Math.ceil((top + viewH) / ROW_H) + OVERSCAN);
    const w = this.win;
    this.table.setAttribute('aria-rowcount', String(n + 1));
    if (!force && w && w.start === start && w.end === end && w.n === n) return;
    if (!force && w && w.start === start && w.end === end) {
      // Only rows below the window arrived: the spacer grows.
      w.bottom.firstChild.style.height = `${(n - end) * ROW_H}px`;
      w.n = n;
      return;
    }
    const spacer = (rows) => {
      const td = h('td', { colspan: String(Math.max(1, this.visible.length)) });
      td.style.height = `${rows * ROW_H}px`;
      return h('tr', { class: 'spacer', 'aria-hidden': 'true' }, td);
    };
    const topRow = spacer(start);
    const bottom = spacer(n - end);
    const trs = [topRow];
    const sel = this.selection();
    for (let vi = start; vi < end; vi++) {
      const row = this.rowAt(vi);
      const tr = h('tr', { 'aria-rowindex': String(vi + 2) });
      this.visible.forEach((c, ci) => {
        const col = this.columns[c];
        const v = row[c];
        const { text, cls } = formatValue(v, col.type, this.locale);
        const td = document.createElement('td');
        td.textContent = text;
        let k = cls;
        if (col.numeric && cls === '') k = 'num';
        if (isLong(v, text)) k += ' long';
        if (vi === this.active.r && ci === this.active.c) {
          k += ' active';
          td.id = 'grid-active';
        }
        if (sel && vi >= sel.r0 && vi <= sel.r1 && ci >= sel.c0 && ci <= sel.c1) k += ' sel';
        if (k) td.className = k.trim();
        td.dataset.r = String(vi);
        td.dataset.c = String(ci);
        tr.append(td);
      });
      trs.push(tr);
    }
    trs.push(bottom);
    this.tbody.replaceChildren(...trs);
    if (this.visible.length && n) this.table.setAttribute('aria-activedescendant', 'grid-active');
    else this.table.removeAttribute('aria-activedescendant');
    this.win = { start, end, n, bottom };
  }

  // ---- selection and keyboard ----

  selection() {
    if (!this.anchor) return null;
    const a = this.anchor;
    const b = this.active;
    return { r0: Math.min(a.r, b.r), r1: Math.max(a.r, b.r), c0: Math.min(a.c, b.c), c1: Math.max(a.c, b.c) };
  }

  moveTo(r, c, extend) {
    const n = this.rows.length;
    if (!n || !this.visible.length) return;
    if (extend && !this.anchor) this.anchor = { ...this.active };
    if (!extend) this.anchor = null;
    this.active = { r: Math.max(0, Math.min(n - 1, r)), c: Math.max(0, Math.min(this.visible.length - 1, c)) };
    // Keep the active cell in view.
    const y = this.active.r * ROW_H;
    const head = this.thead.offsetHeight || ROW_H;
    const s = this.scroller;
    if (y < s.scrollTop) s.scrollTop = y;
    else if (y + ROW_H + head > s.scrollTop + s.clientHeight) s.scrollTop = y + ROW_H + head - s.clientHeight;
    this.render(true);
    const td = this.tbody.querySelector('td.active');
    if (td) {
      const left = td.offsetLeft;
      if (left < s.scrollLeft) s.scrollLeft = left;
      else if (left + td.offsetWidth > s.scrollLeft + s.clientWidth) s.scrollLeft = left + td.offsetWidth - s.clientWidth;
    }
    if (!this.panel.hidden) this.openPanel();
  }

  wire() {
    let pending = false;
    this.scroller.addEventListener('scroll', () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; this.render(false); });
    }, { passive: true });
    this.tbody.addEventListener('click', (ev) => {
      const td = ev.target.closest('td[data-r]');
      if (!td) return;
      this.moveTo(Number(td.dataset.r), Number(td.dataset.c), ev.shiftKey);
      this.table.focus({ preventScroll: true });
    });
    this.tbody.addEventListener('dblclick', (ev) => {
      if (ev.target.closest('td[data-r]')) this.openPanel();
    });
    this.table.addEventListener('keydown', (ev) => {
      if (ev.target !== this.table) return;
      const { r, c } = this.active;
      const page = Math.max(1, Math.floor(this.scroller.clientHeight / ROW_H) - 1);
      const ctrl = ev.ctrlKey || ev.metaKey;
      const moves = {
        ArrowDown: [r + 1, c], ArrowUp: [r - 1, c], ArrowRight: [r, c + 1], ArrowLeft: [r, c - 1],
        PageDown: [r + page, c], PageUp: [r - page, c],
        Home: ctrl ? [0, 0] : [r, 0], End: ctrl ? [this.rows.length - 1, this.visible.length - 1] : [r, this.visible.length - 1],
      };
      if (moves[ev.key]) {
        ev.preventDefault();
        this.moveTo(...moves[ev.key], ev.shiftKey);
      } else if (ev.key === 'Enter') {
        ev.preventDefault();
        this.openPanel();
      } else if (ev.key === 'Escape') {
        if (!this.panel.hidden) { ev.preventDefault(); this.closePanel(); } else if (this.anchor) { this.anchor = null; this.render(true); }
      } else if (ctrl && ev.key.toLowerCase() === 'a') {
        ev.preventDefault();
        this.anchor = { r: 0, c: 0 };
        this.active = { r: this.rows.length - 1, c: this.visible.length - 1 };
        this.render(true);
      }
    });
    // Ctrl+C in the grid, and the Copy buttons (through execCommand),
    // put the text in the clipboard from the copy event itself.
    document.addEventListener('copy', (ev) => {
      let text = this.pendingCopy;
      if (text === null && document.activeElement === this.table && this.rows.length) text = this.copyString(this.anchor ? 'selection' : 'cell');
      if (text === null) return;
      this.pendingCopy = null;
      ev.clipboardData.setData('text/plain', text);
      ev.preventDefault();
    });
    // The Columns menu closes on a click elsewhere and on Escape.
    document.addEventListener('click', (ev) => {
      if (this.columnsMenu.open && !this.columnsMenu.contains(ev.target)) this.columnsMenu.open = false;
    });
    this.columnsMenu.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.columnsMenu.open) {
        ev.preventDefault();
        this.columnsMenu.open = false;
        this.columnsMenu.querySelector('summary').focus();
      }
    });
    this.panel.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); this.closePanel(); this.table.focus(); }
    });
  }

  // ---- copying ----

  /** copyString is the text of the cell, the row or the selection in the chosen format. */
  copyString(what, format = this.copyFormat.value) {
    if (!this.rows.length || !this.visible.length) return '';
    const { r, c } = this.active;
    const names = (cs) => cs.map((i) => this.columns[i].name);
    if (what === 'cell') {
      const col = this.visible[c];
      return copyText(format === 'json' ? 'json' : 'tsv', names([col]), [[this.rowAt(r)[col]]], { single: true });
    }
    if (what === 'row') {
      const row = this.rowAt(r);
      return copyText(format, names(this.visible), [this.visible.map((i) => row[i])], { single: true });
    }
    const s = this.selection() || { r0: r, r1: r, c0: c, c1: c };
    const cols = this.visible.slice(s.c0, s.c1 + 1);
    const rows = [];
    for (let vi = s.r0; vi <= s.r1; vi++) {
      const row = this.rowAt(vi);
      rows.push(cols.map((i) => row[i]));
    }
    return copyText(format, names(cols), rows, { header: true });
  }

  async copy(what) {
    const text = this.copyString(what);
    const label = { cell: 'the cell', row: 'the row', selection: 'the selection' }[what];
    this.pendingCopy = text;
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    if (!ok) {
      this.pendingCopy = null;
      try { await navigator.clipboard.writeText(text); ok = true; } catch { ok = false; }
    }
    this.note.textContent = ok ? `Copied ${label} as ${this.copyFormat.value.toUpperCase()}.` : 'The browser refused to copy.';
  }

  // ---- the side panel ----

  openPanel() {
    if (!this.rows.length || !this.visible.length) return;
    const col = this.columns[this.visible[this.active.c]];
    const v = this.rowAt(this.active.r)[this.visible[this.active.c]];
    this.panelTitle.textContent = `${col.name} · row ${(this.active.r + 1).toLocaleString(this.locale)}`;
    this.panelBody.textContent = expanded(v);
    this.panelBody.classList.toggle('null', v === null || v === undefined);
    this.panel.hidden = false;
    this.root.classList.add('with-panel');
  }

  closePanel() {
    this.panel.hidden = true;
    this.root.classList.remove('with-panel');
  }
}
