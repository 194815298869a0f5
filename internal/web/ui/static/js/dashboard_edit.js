// The dashboard editor: name, inputs, panels (a saved query, its
// parameter bindings, the visualisation and its place on the grid), and
// sharing. Saving sends the whole definition with PATCH. Each panel runs
// its saved query for a live preview while it is edited, and its columns
// are picked from that result's own columns, never typed. The layout map
// places panels on the 12-column grid by dragging, or from the keyboard.
import { api, clearErrors, errorText, setStatus, showError } from './app.js';
import { draw, guessViz } from './charts.js';
import { cell, postQuery, readNDJSON } from './stream.js';

const form = document.getElementById('dashboard-edit');
const $ = (x) => document.getElementById(x);
const edit = JSON.parse(form.dataset.edit);
const d = edit.dashboard;
const status = $('form-status');
const inputRows = $('input-rows');
const panelRows = $('panel-rows');
const TYPES = ['text', 'int', 'number', 'date', 'timestamp', 'enum', 'bool', 'uuid'];
const FORMATS = [['', 'automatic'], ['integer', 'integer'], ['decimal', 'decimal'], ['compact', 'compact (1.2K)'], ['percent', 'percent']];
let seq = 0;
let queries = [];

function field(label, control, cls = '') {
  const div = document.createElement('div');
  div.className = `field ${cls}`.trim();
  const id = `e${seq++}`;
  control.id = id;
  const l = document.createElement('label');
  l.htmlFor = id;
  l.textContent = label;
  if (control.type === 'checkbox') { div.classList.add('check'); div.append(control, l); } else div.append(l, control);
  return div;
}

function input(value = '', attrs = {}) {
  const i = document.createElement('input');
  i.value = value ?? '';
  i.autocomplete = 'off';
  Object.assign(i, attrs);
  return i;
}

function select(options, value) {
  const s = document.createElement('select');
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    s.append(new Option(label, v));
  }
  s.value = value ?? '';
  return s;
}

function removeButton(row) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'link danger';
  b.textContent = 'Remove';
  b.addEventListener('click', () => { row.remove(); refreshBindings(); });
  return b;
}

// ---- inputs ----

function addInput(inp = { name: '', type: 'date' }) {
  const row = document.createElement('div');
  row.className = 'panel-editor input-row';
  const name = input(inp.name, { className: 'mono', placeholder: 'since' });
  const label = input(inp.label || '', { placeholder: 'Since' });
  const type = select(TYPES, inp.type);
  const def = input(inp.default === undefined || inp.default === null ? '' : typeof inp.default === 'string' ? inp.default : JSON.stringify(inp.default));
  const values = input((inp.values || []).join(', '), { placeholder: 'a, b, c (enum)' });
  const err = document.createElement('p');
  err.className = 'field-error';
  row.append(field('Name', name), field('Label', label), field('Type', type), field('Default', def), field('Values', values, 'grow'), removeButton(row), err);
  row.read = () => {
    const out = { name: name.value.trim(), label: label.value.trim(), type: type.value };
    const dv = def.value.trim();
    if (dv !== '') out.default = ['int', 'number'].includes(type.value) && /^-?\d+(\.\d+)?$/.test(dv) ? Number(dv) : type.value === 'bool' ? dv === 'true' : dv;
    if (type.value === 'enum') out.values = values.value.split(',').map((v) => v.trim()).filter(Boolean);
    return out;
  };
  row.err = err;
  name.addEventListener('change', refreshBindings);
  // Previews run with the inputs' defaults.
  for (const el of [def, type]) el.addEventListener('change', () => { for (const r of panelRows.children) r.schedule?.(); });
  inputRows.append(row);
  return row;
}

// ---- panels ----

function queryLabel(q) {
  return `${q.datasource_name} · ${q.name}`;
}

// columnPicker is a select of the result's columns (keeping a chosen
// column the result no longer has, marked so).
function columnPicker(value, none) {
  const s = document.createElement('select');
  s.fill = (columns) => {
    const cur = s.want ?? (s.value || value || '');
    s.want = undefined;
    const opts = [...(none ? [['', none]] : []), ...columns.map((c) => [c.name, c.name])];
    if (cur && !columns.some((c) => c.name === cur)) opts.push([cur, `${cur} (not in the result)`]);
    s.replaceChildren(...opts.map(([v, l]) => new Option(l, v)));
    s.value = cur;
  };
  s.fill([]);
  return s;
}

// columnChecks is a group of checkboxes, one per column of the result.
function columnChecks(values) {
  const box = document.createElement('fieldset');
  box.className = 'column-checks';
  const legend = document.createElement('legend');
  legend.textContent = 'Y columns';
  let chosen = [...values];
  box.fill = (columns) => {
    const names = [...columns.map((c) => c.name), ...chosen.filter((n) => !columns.some((c) => c.name === n))];
    box.replaceChildren(legend, ...names.map((n) => {
      const id = `e${seq++}`;
      const c = input('', { type: 'checkbox', id, value: n });
      c.checked = chosen.includes(n);
      c.addEventListener('change', () => { chosen = [...box.querySelectorAll('input:checked')].map((x) => x.value); });
      const l = document.createElement('label');
      l.htmlFor = id;
      l.textContent = columns.some((col) => col.name === n) ? n : `${n} (not in the result)`;
      const span = document.createElement('span');
      span.className = 'check';
      span.append(c, l);
      return span;
    }));
    if (!names.length) box.append(Object.assign(document.createElement('span'), { className: 'help', textContent: 'The columns appear when the preview has run.' }));
  };
  box.values = () => chosen;
  box.set = (names) => { chosen = [...names]; };
  box.fill([]);
  return box;
}

function addPanel(p = { viz: { type: 'bar' }, layout: {} }) {
  const row = document.createElement('div');
  row.className = 'panel-editor panel-row';
  row.dataset.id = p.id || '';
  row.key = `k${seq++}`;
  const title = input(p.title || '', { placeholder: 'Revenue by month' });
  const known = queries.some((q) => q.id === p.query_id);
  const opts = [['', 'choose a saved query…'], ...queries.map((q) => [q.id, queryLabel(q)])];
  if (p.query_id && !known) opts.push([p.query_id, '(a saved query you cannot see)']);
  const query = select(opts, p.query_id || '');
  const viz = p.viz || {};
  const type = select(edit.viz_types, viz.type || 'bar');
  const x = columnPicker(viz.x || '');
  const y = columnChecks(viz.y || []);
  const series = columnPicker(viz.series || '', 'none');
  const stacked = input('', { type: 'checkbox' });
  stacked.checked = Boolean(viz.stacked);
  const format = select(FORMATS, viz.format || '');
  const unit = input(viz.unit || '', { size: 6 });
  const compare = input('', { type: 'checkbox' });
  compare.checked = Boolean(viz.compare);
  const limit = input(p.limit || 1000, { type: 'number', min: 1, max: 10000 });
  const lay = p.layout || {};
  const col = input(lay.x ?? 0, { type: 'number', min: 0, max: 11 });
  const w = input(lay.w || 6, { type: 'number', min: 1, max: 12 });
  const h = input(lay.h || 4, { type: 'number', min: 1, max: 12 });
  const params = document.createElement('div');
  params.className = 'params';
  const err = document.createElement('p');
  err.className = 'field-error';
  const preview = document.createElement('div');
  preview.className = 'panel-preview';
  const previewBody = document.createElement('div');
  previewBody.className = 'panel-body';
  const previewNote = document.createElement('p');
  previewNote.className = 'panel-note';
  previewNote.setAttribute('role', 'status');
  const previewHead = document.createElement('h3');
  previewHead.textContent = 'Preview';
  preview.append(previewHead, previewBody, previewNote);
  row.append(field('Title', title, 'grow'), field('Saved query', query, 'grow'), field('Chart', type), field('X column', x), y,
    field('Series column', series), field('Stacked', stacked), field('Format', format), field('Unit', unit), field('Compare with the next row', compare),
    field('Row limit', limit), field('Column (0–11)', col), field('Width (of 12)', w), field('Height', h), removeButton(row), params, err, preview);
  const bindings = p.params || {};
  row.drawParams = () => {
    params.replaceChildren();
    const q = queries.find((qq) => qq.id === query.value);
    const inputsNow = [...inputRows.children].map((r) => r.read().name).filter(Boolean);
    for (const prm of (q && q.parameters) || []) {
      const b = bindings[prm.name] || {};
      const how = select([['', 'the query’s default'], ['value', 'a fixed value'], ...inputsNow.map((n) => [`input:${n}`, `the input “${n}”`])],
        b.input ? `input:${b.input}` : b.value !== undefined ? 'value' : '');
      const val = input(b.value === undefined ? '' : typeof b.value === 'string' ? b.value : JSON.stringify(b.value), { placeholder: prm.type });
      val.hidden = how.value !== 'value';
      how.addEventListener('change', () => { val.hidden = how.value !== 'value'; box.read(); row.schedule(); });
      val.addEventListener('change', () => { box.read(); row.schedule(); });
      const box = field(`${prm.name} (${prm.type})`, how);
      box.append(val);
      box.dataset.param = prm.name;
      box.dataset.type = prm.type;
      params.append(box);
      box.read = () => {
        if (how.value === 'value') {
          const v = val.value.trim();
          bindings[prm.name] = { value: ['int', 'number'].includes(prm.type) && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : prm.type === 'bool' ? v === 'true' : v };
        } else if (how.value.startsWith('input:')) bindings[prm.name] = { input: how.value.slice(6) };
        else delete bindings[prm.name];
      };
    }
  };
  // A panel given a new saved query starts from a guess (runPreview).
  row.fresh = !p.query_id;
  query.addEventListener('change', () => { for (const k of Object.keys(bindings)) delete bindings[k]; row.fresh = true; row.drawParams(); row.schedule(); });
  row.read = () => {
    for (const box of params.children) box.read?.();
    const out = {
      title: title.value.trim(), query_id: query.value, params: { ...bindings }, limit: Number(limit.value) || 1000,
      viz: { type: type.value, x: x.value, y: y.values(), series: series.value,
        stacked: stacked.checked, format: format.value, unit: unit.value.trim(), compare: compare.checked },
      layout: { x: Number(col.value) || 0, y: 0, w: Number(w.value) || 6, h: Number(h.value) || 4 },
    };
    if (row.dataset.id) out.id = row.dataset.id;
    return out;
  };
  row.layoutInputs = { col, w, h };
  row.titleInput = title;

  // ---- the live preview: the saved query run with the bindings (an
  // input's default for an input), drawn as the panel will be ----
  let columns = [];
  let rows = [];
  let controller = null;
  let timer = null;
  row.redraw = () => {
    const v = row.read().viz;
    previewBody.style.height = `${(Number(h.value) || 4) * 60}px`;
    if (!columns.length) { previewBody.replaceChildren(); return; }
    try {
      if (v.type === 'table') {
        const t = document.createElement('table');
        t.className = 'grid compact';
        const head = t.createTHead().insertRow();
        for (const c of columns) head.append(Object.assign(document.createElement('th'), { scope: 'col', textContent: c.name }));
        const tb = t.createTBody();
        for (const r of rows.slice(0, 50)) {
          const tr = tb.insertRow();
          r.forEach((val, i) => tr.append(cell(val, columns[i].type)));
        }
        previewBody.replaceChildren(t);
      } else draw(previewBody, v, columns, rows);
      previewNote.textContent = row.okNote || '';
      previewNote.className = 'panel-note';
    } catch (e) {
      previewBody.replaceChildren();
      previewNote.textContent = e.message;
      previewNote.className = 'panel-note is-error';
    }
  };
  row.runPreview = async () => {
    controller?.abort();
    columns = [];
    rows = [];
    const q = queries.find((qq) => qq.id === query.value);
    if (!q) { previewNote.textContent = 'Choose a saved query to see a preview.'; previewBody.replaceChildren(); x.fill([]); y.fill([]); series.fill([]); return; }
    const c = new AbortController();
    controller = c;
    previewNote.textContent = 'Running the saved query…';
    previewNote.className = 'panel-note';
    const defaults = Object.fromEntries([...inputRows.children].map((r) => r.read()).map((i) => [i.name, i.default]));
    const prm = {};
    for (const [name, b] of Object.entries(row.read().params)) {
      const v = b.input ? defaults[b.input] : b.value;
      if (v !== undefined && v !== null && v !== '') prm[name] = v;
    }
    try {
      const { resp, error } = await postQuery(`/api/queries/${encodeURIComponent(q.id)}/run`, { params: prm, limit: Math.min(Number(limit.value) || 1000, 10000) },
        'application/x-ndjson', c.signal, q.datasource_id);
      if (!resp) { previewNote.textContent = error.message; previewNote.className = 'panel-note is-error'; return; }
      let failed = null;
      await readNDJSON(resp, (msg) => {
        if (msg.columns) columns = msg.columns;
        else if (msg.row) rows.push(msg.row);
        else if (msg.error) failed = msg.error;
      });
      if (c !== controller) return;
      // A new panel starts from a guess made from the column types.
      if (row.fresh && columns.length) {
        row.fresh = false;
        const g = guessViz(columns, rows.slice(0, 20));
        x.want = g.x || '';
        y.set(g.y || []);
        series.want = g.series || '';
        if (g.type && g.type !== 'table') type.value = g.type;
      }
      x.fill(columns);
      y.fill(columns);
      series.fill(columns);
      row.okNote = `${rows.length} ${rows.length === 1 ? 'row' : 'rows'} with the inputs’ defaults`;
      previewNote.textContent = failed ? failed.message : row.okNote;
      previewNote.className = failed ? 'panel-note is-error' : 'panel-note';
      if (failed) return;
      row.dataset.columns = columns.map((cc) => cc.name).join(',');
      row.redraw();
    } catch (e) {
      if (e.name !== 'AbortError') { previewNote.textContent = 'The connection to the gateway failed.'; previewNote.className = 'panel-note is-error'; }
    }
  };
  row.schedule = () => { clearTimeout(timer); timer = setTimeout(() => row.runPreview(), 300); };
  for (const el of [type, x, series, stacked, format, unit, compare, h]) el.addEventListener('change', () => row.redraw());
  y.addEventListener('change', () => row.redraw());
  limit.addEventListener('change', () => row.schedule());
  for (const el of [title, col, w, h]) el.addEventListener('change', () => drawLayout());
  row.err = err;
  row.drawParams();
  panelRows.append(row);
  row.runPreview();
  drawLayout();
  return row;
}

// ---- the layout map: each panel as a block on the 12-column grid; drag a
// block to move it (sideways: its column; up and down: its place in the
// list, which is its row), drag its corner to resize; from the keyboard,
// arrows move and Shift+arrows resize ----

const map = document.getElementById('layout-map');
const UNIT_H = 16; // px of the map per unit of height

function drawLayout(focusKey) {
  if (!map) return;
  // Blocks are kept and updated, not rebuilt, so that the one in focus
  // stays in focus.
  const existing = new Map([...map.children].map((b) => [b.dataset.key, b]));
  const active = document.activeElement?.closest?.('.layout-block')?.dataset.key;
  const rows = [...panelRows.children];
  const blocks = rows.map((row, i) => {
    let b = existing.get(row.key);
    if (!b) {
      b = document.createElement('div');
      b.className = 'layout-block';
      b.tabIndex = 0;
      b.dataset.key = row.key;
      b.setAttribute('role', 'button');
      b.setAttribute('aria-describedby', 'layout-help');
      const label = document.createElement('span');
      const grip = document.createElement('span');
      grip.className = 'layout-resize';
      grip.setAttribute('aria-hidden', 'true');
      b.append(label, grip);
      b.addEventListener('keydown', (ev) => keyMove(ev, row));
      b.addEventListener('pointerdown', (ev) => dragStart(ev, row, ev.target === grip));
    }
    const { col, w, h } = row.layoutInputs;
    b.style.gridColumn = `${(Number(col.value) || 0) + 1} / span ${Number(w.value) || 6}`;
    b.style.height = `${(Number(h.value) || 4) * UNIT_H}px`;
    const name = row.titleInput.value.trim() || `Panel ${i + 1}`;
    b.firstChild.textContent = name;
    b.setAttribute('aria-label', `${name}: column ${col.value}, width ${w.value}, height ${h.value}, place ${i + 1} of ${rows.length}`);
    return b;
  });
  const same = blocks.length === map.children.length && blocks.every((b, i) => map.children[i] === b);
  if (!same) map.replaceChildren(...blocks);
  const k = focusKey || active;
  const f = k && map.querySelector(`[data-key="${k}"]`);
  if (f && document.activeElement !== f) f.focus();
}

function setLayout(row, { x, w, h }) {
  const { col, w: wi, h: hi } = row.layoutInputs;
  const nw = Math.max(1, Math.min(12, w ?? Number(wi.value)));
  const nx = Math.max(0, Math.min(12 - nw, x ?? Number(col.value)));
  col.value = String(nx);
  wi.value = String(nw);
  if (h !== undefined) hi.value = String(Math.max(1, Math.min(12, h)));
  row.redraw();
}

function moveInList(row, by) {
  const rows = [...panelRows.children];
  const i = rows.indexOf(row);
  const j = Math.max(0, Math.min(rows.length - 1, i + by));
  if (i === j) return;
  if (j > i) rows[j].after(row); else rows[j].before(row);
}

function keyMove(ev, row) {
  const { col, w, h } = row.layoutInputs;
  const [x0, w0, h0] = [Number(col.value), Number(w.value), Number(h.value)];
  const k = ev.key;
  if (!['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'].includes(k)) return;
  ev.preventDefault();
  if (ev.shiftKey) {
    if (k === 'ArrowLeft') setLayout(row, { w: w0 - 1 });
    if (k === 'ArrowRight') setLayout(row, { w: w0 + 1 });
    if (k === 'ArrowUp') setLayout(row, { h: h0 - 1 });
    if (k === 'ArrowDown') setLayout(row, { h: h0 + 1 });
  } else {
    if (k === 'ArrowLeft') setLayout(row, { x: x0 - 1 });
    if (k === 'ArrowRight') setLayout(row, { x: x0 + 1 });
    if (k === 'ArrowUp') moveInList(row, -1);
    if (k === 'ArrowDown') moveInList(row, 1);
  }
  drawLayout(row.key);
  setStatus($('layout-status'), map.querySelector(`[data-key="${row.key}"]`)?.getAttribute('aria-label') || '');
}

function dragStart(ev, row, resize) {
  ev.preventDefault();
  const block = ev.currentTarget;
  block.setPointerCapture(ev.pointerId);
  const cellW = map.clientWidth / 12;
  const { col, w, h } = row.layoutInputs;
  const [x0, w0, h0] = [Number(col.value), Number(w.value), Number(h.value)];
  const [px, py] = [ev.clientX, ev.clientY];
  const move = (e) => {
    const dc = Math.round((e.clientX - px) / cellW);
    if (resize) setLayout(row, { w: w0 + dc, h: h0 + Math.round((e.clientY - py) / UNIT_H) });
    else setLayout(row, { x: x0 + dc });
    block.style.gridColumn = `${Number(col.value) + 1} / span ${Number(w.value)}`;
    block.style.height = `${Number(h.value) * UNIT_H}px`;
  };
  const up = (e) => {
    block.removeEventListener('pointermove', move);
    block.removeEventListener('pointerup', up);
    block.removeEventListener('pointercancel', up);
    if (!resize) {
      // Dropped above or below other blocks: its place in the list.
      const below = [...map.children].filter((b) => b !== block && b.getBoundingClientRect().top + b.offsetHeight / 2 < e.clientY).length;
      const rows = [...panelRows.children];
      const i = rows.indexOf(row);
      moveInList(row, below - i);
    }
    drawLayout(row.key);
  };
  block.addEventListener('pointermove', move);
  block.addEventListener('pointerup', up);
  block.addEventListener('pointercancel', up);
}

function refreshBindings() {
  for (const row of panelRows.children) {
    for (const box of row.querySelector('.params').children) box.read?.();
    row.drawParams();
  }
  drawLayout();
}

// ---- sharing ----

function shareRow(g = { type: 'user', id: '', level: 'view' }) {
  const tr = document.createElement('tr');
  const subj = select((edit.subjects || []).map((s) => [`${s.type}:${s.id}`, `${s.type === 'group' ? 'group ' : ''}${s.name}`]), `${g.type}:${g.id}`);
  subj.setAttribute('aria-label', 'User or group');
  const level = select(['view', 'edit'], g.level);
  level.setAttribute('aria-label', 'Level');
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'link danger';
  b.textContent = 'Remove';
  b.addEventListener('click', () => tr.remove());
  for (const c of [subj, level, b]) { const td = document.createElement('td'); td.append(c); tr.append(td); }
  tr.read = () => { const [type, ...id] = subj.value.split(':'); return { type, id: id.join(':'), level: level.value }; };
  $('share-list').tBodies[0].append(tr);
}

// ---- start ----

async function start() {
  $('d-name').value = d.name;
  $('d-description').value = d.description || '';
  const [qs, ds] = await Promise.all([api('GET', '/api/queries'), api('GET', '/api/datasources')]);
  if (!qs.ok || !ds.ok) return setStatus(status, errorText((qs.ok ? ds : qs).error), 'error');
  const names = Object.fromEntries(ds.data.datasources.map((x) => [x.id, x.name]));
  queries = qs.data.queries.map((q) => ({ ...q, datasource_name: names[q.datasource_id] || '?' }));
  for (const inp of d.definition.inputs) addInput(inp);
  for (const p of d.definition.panels) addPanel(p);
  if (!queries.length) setStatus(status, 'There is no saved query you can run yet: save one first, then add panels.', 'error');
  for (const g of edit.grants || []) shareRow(g);
}

$('add-input').addEventListener('click', () => { addInput().querySelector('input').focus(); refreshBindings(); });
$('add-panel').addEventListener('click', () => addPanel().querySelector('input').focus());
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  for (const r of [...inputRows.children, ...panelRows.children]) r.err.textContent = '';
  const body = {
    name: $('d-name').value.trim(), description: $('d-description').value.trim(),
    // Each panel's row on the grid follows its place in this list.
    definition: { inputs: [...inputRows.children].map((r) => r.read()), panels: [...panelRows.children].map((r, i) => { const p = r.read(); p.layout.y = i; return p; }) },
  };
  $('save-dashboard').disabled = true;
  const r = await api('PATCH', `/api/dashboards/${encodeURIComponent(d.id)}`, body);
  $('save-dashboard').disabled = false;
  if (!r.ok) {
    const m = /^definition\.(inputs|panels)\[(\d+)\]/.exec(r.error.field || '');
    const row = m && (m[1] === 'inputs' ? inputRows : panelRows).children[Number(m[2])];
    if (row) {
      row.err.textContent = r.error.message;
      setStatus(status, 'Please correct the marked panel or input.', 'error');
      row.scrollIntoView({ block: 'center' });
      return;
    }
    return showError(form, status, r.error);
  }
  location.assign(`/dashboards/${encodeURIComponent(d.id)}`);
});
$('add-share')?.addEventListener('click', () => shareRow());
$('save-share')?.addEventListener('click', async () => {
  const grants = [...$('share-list').tBodies[0].rows].map((tr) => tr.read());
  const r = await api('PUT', `/api/dashboards/${encodeURIComponent(d.id)}/grants`, { grants });
  if (!r.ok) return setStatus($('share-status'), errorText(r.error), 'error');
  setStatus($('share-status'), `Saved: shared with ${grants.length}.`, 'ok');
});
start();
