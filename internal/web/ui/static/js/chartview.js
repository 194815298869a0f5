// The Chart view of a result, beside its Table view: the type (line, area,
// bar, pie, number, table) and the x, y and series columns, guessed from
// the column types (charts.js guessViz) and drawn with the dashboards' own
// charts.js, hover tooltips included. "Save as a saved query and add it to
// a dashboard" takes two clicks: one opens the dialog (name and dashboard
// filled in), one saves the query, adds a panel with this chart to the
// dashboard and opens it.
import { api, setStatus } from './app.js';
import { draw, guessViz } from './charts.js';
import { formatValue } from './format.js';
import { h } from './grid.js';

const MAX_CHARTED = 10000; // rows a chart draws (a dashboard panel pulls at most as many)
const TYPES = ['line', 'area', 'bar', 'pie', 'number', 'table'];

function field(id, label, control) {
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), control);
}

/** ChartView draws the rows of a Grid as a chart. */
export class ChartView {
  // saveSource, when given, returns what the result came from
  // ({datasourceID, query}) for "Save as a saved query"; it is absent
  // where saving is not offered.
  constructor(container, grid, { saveSource } = {}) {
    this.grid = grid;
    this.saveSource = saveSource;
    this.type = h('select', { id: 'chart-type' }, ...TYPES.map((t) => h('option', { value: t, text: t })));
    this.x = h('select', { id: 'chart-x' });
    this.series = h('select', { id: 'chart-series' });
    this.ys = h('fieldset', { id: 'chart-y' });
    this.box = h('div', { class: 'chart-box', id: 'chart-box' });
    this.note = h('p', { class: 'help', id: 'chart-note', role: 'status' });
    const controls = h('div', { class: 'chart-controls' },
      field('chart-type', 'Chart', this.type), field('chart-x', 'X (labels or time)', this.x), this.ys, field('chart-series', 'Series from', this.series));
    this.root = h('div', { class: 'chart-view', id: 'chart-view', role: 'tabpanel', 'aria-labelledby': 'tab-chart', hidden: '' }, controls);
    if (saveSource) {
      this.saveButton = h('button', { type: 'button', id: 'chart-save', class: 'secondary', text: 'Save as a saved query and add it to a dashboard…' });
      this.saveButton.addEventListener('click', () => this.openSave());
      this.root.append(h('p', {}, this.saveButton));
    }
    this.root.append(this.box, this.note);
    container.append(this.root);
    for (const c of [this.type, this.x, this.series]) c.addEventListener('change', () => this.draw());
    this.ys.addEventListener('change', () => this.draw());
    this.columns = [];
  }

  set hidden(on) { this.root.hidden = on; }

  get hidden() { return this.root.hidden; }

  /** setColumns fills the pickers; guess sets them from the first rows. */
  setColumns(columns) {
    this.columns = columns;
    const opts = (none) => [...(none ? [h('option', { value: '', text: none })] : []), ...columns.map((c) => h('option', { value: c.name, text: c.name }))];
    this.x.replaceChildren(...opts());
    this.series.replaceChildren(...opts('none'));
    this.ys.replaceChildren(h('legend', { text: 'Y (values)' }), ...columns.map((c, i) => {
      const box = h('input', { type: 'checkbox', id: `chart-y-${i}`, value: c.name });
      return h('label', { for: `chart-y-${i}` }, box, c.name);
    }));
    this.guessed = false;
  }

  guess() {
    const viz = guessViz(this.columns, this.grid.rows.slice(0, 20));
    this.type.value = viz.type;
    this.x.value = viz.x || (this.columns[0] ? this.columns[0].name : '');
    this.series.value = viz.series || '';
    for (const b of this.ys.querySelectorAll('input')) b.checked = (viz.y || []).includes(b.value);
    this.guessed = true;
  }

  /** viz is the chart as the pickers say, in the dashboards' form. */
  viz() {
    const y = [...this.ys.querySelectorAll('input:checked')].map((b) => b.value);
    const v = { type: this.type.value };
    if (v.type === 'table') return v;
    if (v.type !== 'number') v.x = this.x.value;
    v.y = y;
    if (this.series.value && (v.type === 'line' || v.type === 'area' || v.type === 'bar')) {
      v.series = this.series.value;
      v.y = y.slice(0, 1);
    }
    return v;
  }

  draw() {
    if (this.hidden || !this.columns.length) return;
    if (!this.guessed && this.grid.rows.length) this.guess();
    const viz = this.viz();
    const rows = this.grid.rows.length > MAX_CHARTED ? this.grid.rows.slice(0, MAX_CHARTED) : this.grid.rows;
    for (const el of [this.x, this.series]) el.disabled = viz.type === 'table' || (viz.type === 'number' && el === this.x);
    this.box.classList.toggle('as-table', viz.type === 'table');
    let note = this.grid.rows.length > MAX_CHARTED ? `The chart shows the first ${MAX_CHARTED.toLocaleString()} rows of ${this.grid.rows.length.toLocaleString()}.` : '';
    try {
      if (viz.type === 'table') this.drawTable(rows);
      else if (viz.type !== 'number' && !viz.y.length) throw new Error('Pick at least one Y column.');
      else draw(this.box, viz, this.columns, rows);
    } catch (e) {
      this.box.replaceChildren();
      note = e.message;
    }
    this.note.textContent = note;
  }

  drawTable(rows) {
    const t = h('table', { class: 'grid compact' });
    const head = t.createTHead().insertRow();
    for (const c of this.columns) head.append(h('th', { scope: 'col', text: c.name }));
    const tb = t.createTBody();
    for (const r of rows.slice(0, 200)) {
      const tr = tb.insertRow();
      r.forEach((v, i) => {
        const { text, cls } = formatValue(v, this.columns[i].type);
        tr.append(h('td', { class: cls, text }));
      });
    }
    this.box.replaceChildren(t);
  }

  // ---- save as a saved query and add to a dashboard ----

  dialog() {
    if (this.dlg) return this.dlg;
    const name = h('input', { id: 'chart-save-name', required: '', maxlength: '200' });
    const dash = h('select', { id: 'chart-save-dashboard' });
    const err = h('p', { class: 'field-error', id: 'chart-save-err', role: 'alert' });
    const status = h('p', { class: 'status', role: 'status', id: 'chart-save-status' });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'chart-save-submit', text: 'Save and add' });
    const cancel = h('button', { type: 'button', text: 'Cancel' });
    const form = h('form', { method: 'dialog', class: 'stack' },
      h('h2', { id: 'chart-save-title', text: 'Save as a saved query and add it to a dashboard' }),
      field('chart-save-name', 'Name of the saved query and the panel', name),
      field('chart-save-dashboard', 'Dashboard', dash), err, status,
      h('div', { class: 'buttons' }, submit, cancel));
    const dlg = h('dialog', { id: 'chart-save-dialog', 'aria-labelledby': 'chart-save-title' }, form);
    cancel.addEventListener('click', () => dlg.close());
    form.addEventListener('submit', (ev) => { ev.preventDefault(); this.save(); });
    document.body.append(dlg);
    this.dlg = dlg;
    Object.assign(this, { saveName: name, saveDash: dash, saveErr: err, saveStatus: status, saveSubmit: submit });
    return dlg;
  }

  async openSave() {
    const src = this.saveSource();
    const dlg = this.dialog();
    this.saveErr.textContent = '';
    setStatus(this.saveStatus, '');
    const line = (src.query || '').split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('--')) || 'Query';
    this.saveName.value = `${this.type.value[0].toUpperCase()}${this.type.value.slice(1)} of ${line}`.slice(0, 80);
    this.saveDash.replaceChildren(h('option', { value: '', text: 'A new dashboard' }));
    dlg.showModal();
    this.saveName.select();
    const r = await api('GET', '/api/dashboards');
    if (r.ok) {
      for (const d of r.data.dashboards || []) {
        if (d.access && (d.access.Edit || d.access.edit)) this.saveDash.append(h('option', { value: d.id, text: d.name }));
      }
      // The most recent editable dashboard is the likely target.
      if (this.saveDash.options.length > 1) this.saveDash.selectedIndex = 1;
    }
  }

  async save() {
    const src = this.saveSource();
    const name = this.saveName.value.trim();
    if (!name) { this.saveErr.textContent = 'Enter a name.'; this.saveName.focus(); return; }
    this.saveSubmit.disabled = true;
    setStatus(this.saveStatus, 'Saving…');
    const fail = (error) => {
      this.saveSubmit.disabled = false;
      setStatus(this.saveStatus, '');
      this.saveErr.textContent = error.message || 'The gateway refused.';
    };
    const q = await api('POST', '/api/queries', { datasource_id: src.datasourceID, name, query: src.query });
    if (!q.ok) return fail(q.error);
    const panel = { title: name, query_id: q.data.id, viz: this.viz(), layout: { x: 0, y: 0, w: 6, h: 4 } };
    let id = this.saveDash.value;
    let r;
    if (!id) {
      r = await api('POST', '/api/dashboards', { name, definition: { inputs: [], panels: [panel] } });
      if (!r.ok) return fail(r.error);
      id = r.data.id;
    } else {
      const d = await api('GET', `/api/dashboards/${encodeURIComponent(id)}`);
      if (!d.ok) return fail(d.error);
      const def = d.data.definition || { inputs: [], panels: [] };
      panel.layout.y = Math.min(1000, (def.panels || []).reduce((m, p) => Math.max(m, (p.layout?.y || 0) + (p.layout?.h || 4)), 0));
      def.panels = [...(def.panels || []), panel];
      r = await api('PATCH', `/api/dashboards/${encodeURIComponent(id)}`, { definition: def });
      if (!r.ok) return fail(r.error);
    }
    location.assign(`/dashboards/${encodeURIComponent(id)}`);
  }
}
