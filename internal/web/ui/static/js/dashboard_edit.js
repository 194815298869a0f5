// The dashboard editor: name, inputs, panels (a saved query, its
// parameter bindings, the visualisation and its place on the grid), and
// sharing. Saving sends the whole definition with PATCH.
import { api, clearErrors, errorText, setStatus, showError } from './app.js';

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
  inputRows.append(row);
  return row;
}

// ---- panels ----

function queryLabel(q) {
  return `${q.datasource_name} · ${q.name}`;
}

function addPanel(p = { viz: { type: 'bar' }, layout: {} }) {
  const row = document.createElement('div');
  row.className = 'panel-editor panel-row';
  row.dataset.id = p.id || '';
  const title = input(p.title || '', { placeholder: 'Revenue by month' });
  const known = queries.some((q) => q.id === p.query_id);
  const opts = [['', 'choose a saved query…'], ...queries.map((q) => [q.id, queryLabel(q)])];
  if (p.query_id && !known) opts.push([p.query_id, '(a saved query you cannot see)']);
  const query = select(opts, p.query_id || '');
  const viz = p.viz || {};
  const type = select(edit.viz_types, viz.type || 'bar');
  const x = input(viz.x || '', { className: 'mono', placeholder: 'month' });
  const y = input((viz.y || []).join(', '), { className: 'mono', placeholder: 'revenue, cost' });
  const series = input(viz.series || '', { className: 'mono' });
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
  row.append(field('Title', title, 'grow'), field('Saved query', query, 'grow'), field('Chart', type), field('X column', x), field('Y columns', y),
    field('Series column', series), field('Stacked', stacked), field('Format', format), field('Unit', unit), field('Compare with the next row', compare),
    field('Row limit', limit), field('Column (0–11)', col), field('Width (of 12)', w), field('Height', h), removeButton(row), params, err);
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
      how.addEventListener('change', () => { val.hidden = how.value !== 'value'; });
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
  query.addEventListener('change', () => { for (const k of Object.keys(bindings)) delete bindings[k]; row.drawParams(); });
  row.read = () => {
    for (const box of params.children) box.read?.();
    const out = {
      title: title.value.trim(), query_id: query.value, params: { ...bindings }, limit: Number(limit.value) || 1000,
      viz: { type: type.value, x: x.value.trim(), y: y.value.split(',').map((v) => v.trim()).filter(Boolean), series: series.value.trim(),
        stacked: stacked.checked, format: format.value, unit: unit.value.trim(), compare: compare.checked },
      layout: { x: Number(col.value) || 0, y: 0, w: Number(w.value) || 6, h: Number(h.value) || 4 },
    };
    if (row.dataset.id) out.id = row.dataset.id;
    return out;
  };
  row.err = err;
  row.drawParams();
  panelRows.append(row);
  return row;
}

function refreshBindings() {
  for (const row of panelRows.children) {
    for (const box of row.querySelector('.params').children) box.read?.();
    row.drawParams();
  }
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
