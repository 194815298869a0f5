// The saved-query form: name, description, the statement (SQL), command
// (Redis) or request template (HTTP), and the typed parameters. Saving an
// existing query with a new text or new parameters makes a new version.
import { api, clearErrors, setStatus, showError } from './app.js';
import { splitCommand, SplitError } from './command.js';
import { userKey } from './userstore.js';

const form = document.getElementById('saved-query-form');
const $ = (x) => document.getElementById(x);

if (form) {
  const kind = form.dataset.kind;
  const dsID = form.dataset.datasource;
  const queryID = form.dataset.id || '';
  const status = $('form-status');
  const rows = $('param-rows');
  const rowTemplate = $('param-row');
  const types = $('param-editor').dataset.types.split(',');
  let rowSeq = 0;

  // ---- the statement ----

  const quoteWord = (w) => (/^[^\s"']+$/.test(w) ? w : JSON.stringify(w));
  const pairs = (obj, sep) => Object.entries(obj || {}).flatMap(([k, v]) => [].concat(v).map((x) => `${k}${sep}${x}`)).join('\n');

  function fillBody(def) {
    if (kind === 'redis') $('q-command').value = (def.command || []).map(quoteWord).join(' ');
    else if (kind === 'http') {
      const r = def.request || {};
      $('q-method').value = r.method || 'GET';
      $('q-path').value = r.path || '';
      $('q-http-query').value = pairs(r.query, '=');
      $('q-headers').value = pairs(r.headers, ': ');
      $('q-body').value = r.body === undefined || r.body === null ? '' : JSON.stringify(r.body, null, 2);
    } else $('q-query').value = def.query || '';
  }

  class FieldError extends Error {
    constructor(field, message) { super(message); this.field = field; }
  }

  function lines(text, sep, field) {
    const out = {};
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const i = line.indexOf(sep);
      if (i < 0) throw new FieldError(field, `Write one per line as name${sep}value.`);
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (sep === '=' && k in out) out[k] = [].concat(out[k], v);
      else out[k] = v;
    }
    return out;
  }

  function readBody() {
    if (kind === 'redis') {
      try {
        return { command: splitCommand($('q-command').value) };
      } catch (e) {
        if (e instanceof SplitError) throw new FieldError('command', e.message);
        throw e;
      }
    }
    if (kind === 'http') {
      const request = { method: $('q-method').value, path: $('q-path').value.trim() };
      const q = lines($('q-http-query').value, '=', 'request.query');
      if (Object.keys(q).length) request.query = q;
      const h = lines($('q-headers').value, ':', 'request.headers');
      if (Object.keys(h).length) request.headers = h;
      const body = $('q-body').value.trim();
      if (body) {
        try { request.body = JSON.parse(body); } catch { throw new FieldError('request.body', 'The body must be JSON (put a parameter in quotes: "{{name}}").'); }
      }
      return { request };
    }
    return { query: $('q-query').value };
  }

  // usedNames lists the parameter names the statement refers to.
  function usedNames() {
    const names = new Set();
    if (kind === 'redis' || kind === 'http') {
      const text = kind === 'redis' ? $('q-command').value
        : [$('q-path').value, $('q-http-query').value, $('q-headers').value, $('q-body').value].join('\n');
      for (const m of text.matchAll(/\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}/g)) names.add(m[1]);
    } else {
      // :name, not ::cast, outside quotes and comments (a rough scan; the
      // gateway's parser has the last word when saving).
      const text = $('q-query').value.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\//g, ' ');
      for (const m of text.matchAll(/(^|[^:\w]):([a-z_][a-z0-9_]*)/g)) names.add(m[2]);
    }
    return [...names];
  }

  // ---- parameters ----

  function showFor(row) {
    const t = row.querySelector('[data-p="type"]').value;
    for (const f of row.querySelectorAll('[data-for]')) f.hidden = !f.dataset.for.split(' ').includes(t);
  }

  function addRow(p = {}) {
    const frag = rowTemplate.content.cloneNode(true);
    const row = frag.querySelector('.param-row');
    const n = rowSeq++;
    // Give every input an id and its label a for, so each is labelled.
    for (const field of row.querySelectorAll('.field')) {
      const input = field.querySelector('input, select, textarea');
      const label = field.querySelector('label');
      input.id = `param-${n}-${input.dataset.p}`;
      label.htmlFor = input.id;
    }
    row.setAttribute('aria-label', `Parameter ${n + 1}`);
    const sel = row.querySelector('[data-p="type"]');
    for (const t of types) sel.append(new Option(t, t));
    const set = (k, v) => { row.querySelector(`[data-p="${k}"]`).value = v ?? ''; };
    set('name', p.name);
    sel.value = p.type || 'text';
    row.querySelector('[data-p="required"]').checked = Boolean(p.required);
    set('default', p.default === undefined || p.default === null ? '' : typeof p.default === 'string' ? p.default : JSON.stringify(p.default));
    set('min', p.min);
    set('max', p.max);
    set('max_length', p.max_length || '');
    set('pattern', p.pattern);
    set('values', (p.values || []).join('\n'));
    set('description', p.description);
    sel.addEventListener('change', () => showFor(row));
    row.querySelector('[data-remove]').addEventListener('click', () => row.remove());
    showFor(row);
    rows.append(frag);
    return row;
  }

  const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

  function readParams() {
    const out = [];
    for (const row of rows.querySelectorAll('.param-row')) {
      const get = (k) => row.querySelector(`[data-p="${k}"]`).value.trim();
      const p = { name: get('name'), type: get('type') };
      if (row.querySelector('[data-p="required"]').checked) p.required = true;
      const desc = get('description');
      if (desc) p.description = desc;
      const def = get('default');
      if (def !== '') {
        if (p.type === 'int' || p.type === 'number') p.default = NUMBER.test(def) ? Number(def) : def;
        else if (p.type === 'bool') p.default = def === 'true' ? true : def === 'false' ? false : def;
        else p.default = def;
      }
      if (p.type === 'int' || p.type === 'number') {
        if (get('min')) p.min = get('min'); // sent as text: kept exact
        if (get('max')) p.max = get('max');
      }
      if (p.type === 'text') {
        if (get('max_length')) p.max_length = Number.parseInt(get('max_length'), 10);
        if (get('pattern')) p.pattern = get('pattern');
      }
      if (p.type === 'enum') p.values = get('values').split('\n').map((v) => v.trim()).filter(Boolean);
      out.push(p);
    }
    return out;
  }

  function showParamError(error) {
    const m = /^parameters\[(\d+)\]/.exec(error.field || '');
    if (!m) return false;
    const row = rows.querySelectorAll('.param-row')[Number(m[1])];
    if (!row) return false;
    row.querySelector('[data-p="error"]').textContent = error.message;
    row.querySelector('[data-p="name"]').focus();
    setStatus(status, 'Please correct the marked parameter.', 'error');
    return true;
  }

  // ---- start ----

  let def = {};
  try { def = JSON.parse(form.dataset.definition || '{}'); } catch { def = {}; }
  if (!queryID) {
    // A draft handed over by the workspace's "Save as" (this tab only).
    const key = userKey(document.body.dataset.user, `draft.${dsID}`);
    try {
      const draft = JSON.parse(sessionStorage.getItem(key) || 'null');
      if (draft) def = { ...draft, parameters: [] };
      sessionStorage.removeItem(key);
    } catch { /* none */ }
  }
  fillBody(def);
  for (const p of def.parameters || []) addRow(p);

  $('add-param').addEventListener('click', () => addRow().querySelector('[data-p="name"]').focus());
  $('detect-params').addEventListener('click', () => {
    const have = new Set(readParams().map((p) => p.name));
    const missing = usedNames().filter((n) => !have.has(n));
    for (const n of missing) addRow({ name: n, type: 'text', required: true });
    setStatus(status, missing.length ? `Added ${missing.join(', ')}: check their types.` : 'Every name used in the text is declared.', missing.length ? '' : 'ok');
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    for (const e of rows.querySelectorAll('[data-p="error"]')) e.textContent = '';
    let body;
    try {
      body = { name: $('q-name').value.trim(), description: $('q-description').value.trim(), ...readBody(), parameters: readParams() };
    } catch (e) {
      if (e instanceof FieldError) return showError(form, status, { field: e.field, message: e.message, code: 'invalid' });
      throw e;
    }
    $('save-query').disabled = true;
    setStatus(status, 'Saving…');
    const r = queryID
      ? await api('PATCH', `/api/queries/${encodeURIComponent(queryID)}`, body)
      : await api('POST', '/api/queries', { datasource_id: dsID, ...body });
    $('save-query').disabled = false;
    if (!r.ok) {
      if (!showParamError(r.error)) showError(form, status, r.error);
      return;
    }
    location.assign(`/queries/${encodeURIComponent(r.data.id)}`);
  });
  $('q-name').focus();
}
