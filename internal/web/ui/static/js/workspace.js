// The query workspace: an ad-hoc query, command or request on one
// datasource, run and exported through the shared Runner (stream.js). The
// last query is kept in this browser's localStorage only, never on the
// server; results and passwords are never stored anywhere.
import { splitCommand } from './command.js';
import { InputError, Runner, safeFileName } from './stream.js';

const form = document.getElementById('query-form');
const id = form.dataset.id;
const kind = form.dataset.kind;
const storageKey = `querygate.last.${id}`;
const $ = (x) => document.getElementById(x);
const editor = $('editor');
const command = $('command');
// The chart view offers to save the query of the result on screen (SQL
// kinds, for those who may create saved queries).
const canSave = $('save-as') && kind !== 'redis' && kind !== 'http';
const runner = new Runner({
  datasourceID: id, form,
  saveSource: canSave ? () => ({ datasourceID: id, query: runner.lastBody?.query ?? '' }) : undefined,
});
const path = `/api/datasources/${encodeURIComponent(id)}/query`;

// ---- the request, from the form, and the browser-only memory of it ----

function readForm() {
  if (kind === 'redis') return { line: command.value };
  if (kind === 'http') {
    return {
      method: $('http-method').value, path: $('http-path').value,
      query: $('http-query').value, headers: $('http-headers').value, body: $('http-body').value,
    };
  }
  return { query: editor.value };
}

function restore() {
  let saved;
  try { saved = JSON.parse(localStorage.getItem(storageKey) || 'null'); } catch { saved = null; }
  if (!saved) return;
  if (kind === 'redis') command.value = saved.line || '';
  else if (kind === 'http') {
    $('http-method').value = saved.method || 'GET';
    $('http-path').value = saved.path || '';
    $('http-query').value = saved.query || '';
    $('http-headers').value = saved.headers || '';
    $('http-body').value = saved.body || '';
  } else editor.value = saved.query || '';
}

function remember() {
  try { localStorage.setItem(storageKey, JSON.stringify(readForm())); } catch { /* storage full or off */ }
}

function lines(text, sep, what) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf(sep);
    if (i < 0) throw new InputError(`Write one ${what} per line as name${sep}value.`);
    const k = line.slice(0, i).trim();
    const v = line.slice(i + 1).trim();
    if (sep === '=' && k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

// requestBody reads the form; defaultLimit is sent when no row limit is
// typed (an export asks for every row up to the gateway's maximum).
function requestBody(defaultLimit) {
  const f = readForm();
  const body = {};
  const limit = $('limit').value.trim();
  if (limit) body.limit = Number.parseInt(limit, 10);
  else if (defaultLimit) body.limit = defaultLimit;
  if (kind === 'redis') {
    body.command = splitCommand(f.line);
    if (!body.command.length) throw new InputError('Enter a command.');
  } else if (kind === 'http') {
    body.method = f.method;
    body.path = f.path.trim();
    const q = lines(f.query, '=', 'parameter');
    if (Object.keys(q).length) body.query = q;
    const h = lines(f.headers, ':', 'header');
    if (Object.keys(h).length) body.headers = h;
    if (f.body.trim()) {
      try { body.body = JSON.parse(f.body); } catch { body.body = f.body; }
    }
  } else {
    if (!f.query.trim()) throw new InputError('Enter a query.');
    body.query = f.query;
  }
  remember();
  return body;
}

// ---- save as a saved query: the text goes to the form through this tab's
// sessionStorage (never a URL, which ends up in logs and history) ----

const saveAs = $('save-as');
if (saveAs) {
  saveAs.addEventListener('click', () => {
    const f = readForm();
    let draft = null;
    try {
      if (kind === 'redis') draft = { command: splitCommand(f.line) };
      else if (kind === 'http') {
        draft = { request: { method: f.method, path: f.path.trim(), query: lines(f.query, '=', 'parameter'), headers: lines(f.headers, ':', 'header') } };
        if (f.body.trim()) {
          try { draft.request.body = JSON.parse(f.body); } catch { draft.request.body = f.body; }
        }
      } else draft = { query: f.query };
    } catch { draft = null; }
    try { sessionStorage.setItem(`querygate.draft.${id}`, JSON.stringify(draft)); } catch { /* storage off: an empty form */ }
    location.assign(`/queries/new?datasource=${encodeURIComponent(id)}`);
  });
}

// ---- wiring ----

const title = () => document.querySelector('h1').textContent;
const exportLimit = Number.parseInt($('export').dataset.limit, 10) || 0;
form.addEventListener('submit', (ev) => { ev.preventDefault(); runner.run(path, () => requestBody()); });
$('export').addEventListener('click', () => runner.exportCSV(path, () => requestBody(exportLimit), safeFileName(title(), 'csv')));
form.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    runner.run(path, () => requestBody());
  }
});
restore();
(editor || command || $('http-path'))?.focus();
