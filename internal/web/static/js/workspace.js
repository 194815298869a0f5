// The query workspace: sends one query, renders the NDJSON stream row by row
// as it arrives (DESIGN section 5), cancels by aborting the request (the
// gateway then cancels at the datasource), exports CSV, and unlocks
// device-custody datasources. The last query is kept in this browser's
// localStorage only, never on the server; results and passwords are never
// stored anywhere.
import { api, clearErrors, setStatus } from './app.js';
import { splitCommand, SplitError } from './command.js';

const MAX_SHOWN = 5000; // rows kept in the table; more are counted, not shown

const form = document.getElementById('query-form');
const id = form.dataset.id;
const kind = form.dataset.kind;
const storageKey = `querygate.last.${id}`;
const $ = (x) => document.getElementById(x);
const runBtn = $('run');
const cancelBtn = $('cancel');
const exportBtn = $('export');
const rowCount = $('row-count');
const elapsedEl = $('elapsed');
const status = $('run-status');
const errorBox = $('query-error');
const truncated = $('truncated');
const table = $('results');
const editor = $('editor');
const command = $('command');

let controller = null;

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

class InputError extends Error {}

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

function requestBody() {
  const f = readForm();
  const body = {};
  const limit = $('limit').value.trim();
  if (limit) body.limit = Number.parseInt(limit, 10);
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
  return body;
}

// ---- rendering ----

function cell(v) {
  const td = document.createElement('td');
  if (v === null || v === undefined) {
    td.textContent = 'NULL';
    td.className = 'null';
  } else if (typeof v === 'object') {
    td.textContent = JSON.stringify(v);
  } else {
    td.textContent = String(v);
    if (typeof v === 'number') td.className = 'num';
  }
  return td;
}

function reset() {
  clearErrors(document);
  errorBox.hidden = true;
  truncated.hidden = true;
  table.tHead.replaceChildren();
  table.tBodies[0].replaceChildren();
  rowCount.textContent = '0';
  elapsedEl.textContent = '0';
  table.hidden = false;
  const viewer = $('http-response');
  if (viewer) viewer.hidden = true;
}

function showError(error) {
  $('error-code').textContent = error.code || 'error';
  $('error-message').textContent = error.message || 'The query failed.';
  errorBox.hidden = false;
  setStatus(status, `The query failed (${error.code}).`, 'error');
}

function setColumns(cols) {
  const tr = document.createElement('tr');
  for (const c of cols) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = c.name;
    if (c.type) th.title = c.type;
    tr.append(th);
  }
  table.tHead.replaceChildren(tr);
}

// showHTTP fills the response viewer when the result is one HTTP response
// (columns status, headers and body).
function showHTTP(columns, row) {
  const viewer = $('http-response');
  if (!viewer || !columns || !row) return false;
  const at = (n) => columns.findIndex((c) => c.name.toLowerCase() === n);
  const [s, h, b] = [at('status'), at('headers'), at('body')];
  if (s < 0 || b < 0) return false;
  $('http-status').textContent = String(row[s]);
  const tbody = $('http-response-headers');
  tbody.replaceChildren();
  let headers = h >= 0 ? row[h] : null;
  if (typeof headers === 'string') { try { headers = JSON.parse(headers); } catch { headers = null; } }
  for (const [k, v] of Object.entries(headers || {})) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = k;
    tr.append(th, cell(Array.isArray(v) ? v.join(', ') : v));
    tbody.append(tr);
  }
  let body = row[b];
  if (typeof body === 'string') {
    try { body = JSON.stringify(JSON.parse(body), null, 2); } catch { /* not JSON: as it is */ }
  } else body = JSON.stringify(body, null, 2);
  $('http-response-body').textContent = body ?? '';
  viewer.hidden = false;
  return true;
}

// ---- running ----

function busy(on) {
  runBtn.disabled = on;
  exportBtn.disabled = on;
  cancelBtn.disabled = !on;
  form.setAttribute('aria-busy', String(on));
}

async function post(body, accept, signal) {
  const path = `/api/datasources/${encodeURIComponent(id)}/query${accept === 'text/csv' ? '?format=csv' : ''}`;
  return fetch(path, {
    method: 'POST', credentials: 'same-origin', signal,
    headers: { 'Content-Type': 'application/json', Accept: accept },
    body: JSON.stringify(body),
  });
}

async function errorOf(resp) {
  try {
    const data = await resp.json();
    if (data && data.error) return data.error;
  } catch { /* not JSON */ }
  return { code: `http_${resp.status}`, message: 'The request failed.' };
}

// start sends the request; on device_locked it asks for the password and
// tries again once unlocked. It returns the response, or null when done.
async function start(body, accept) {
  for (;;) {
    const resp = await post(body, accept, controller.signal);
    if (resp.ok) return resp;
    const error = await errorOf(resp);
    if (resp.status === 401) location.assign('/login');
    if (error.code === 'device_locked' && await unlock()) continue;
    showError(error);
    return null;
  }
}

async function run() {
  if (controller) return;
  let body;
  reset();
  try {
    body = requestBody();
  } catch (e) {
    if (e instanceof InputError || e instanceof SplitError) return showError({ code: 'invalid', message: e.message });
    throw e;
  }
  remember();
  controller = new AbortController();
  busy(true);
  setStatus(status, 'Running…');
  const t0 = performance.now();
  const timer = setInterval(() => { elapsedEl.textContent = String(Math.round(performance.now() - t0)); }, 100);
  let rows = 0;
  let columns = null;
  let firstRow = null;
  let finished = false;
  const tbody = table.tBodies[0];
  try {
    const resp = await start(body, 'application/x-ndjson');
    if (!resp) { finished = true; return; }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      const frag = document.createDocumentFragment();
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const msg = JSON.parse(line);
        if (msg.columns) {
          columns = msg.columns;
          setColumns(columns);
        } else if (msg.row) {
          if (!firstRow) firstRow = msg.row;
          if (rows < MAX_SHOWN) {
            const tr = document.createElement('tr');
            for (const v of msg.row) tr.append(cell(v));
            frag.append(tr);
          }
          rows++;
        } else if (msg.done) {
          finished = true;
          elapsedEl.textContent = String(msg.done.elapsed_ms);
          truncated.hidden = !msg.done.truncated;
          const shown = rows > MAX_SHOWN ? ` (the first ${MAX_SHOWN} shown)` : '';
          setStatus(status, `${msg.done.rows} rows in ${msg.done.elapsed_ms} ms${shown}${msg.done.truncated ? ', cut at the row limit' : ''}.`, 'ok');
        } else if (msg.error) {
          finished = true;
          showError(msg.error);
        }
      }
      tbody.append(frag);
      rowCount.textContent = String(rows);
    }
    if (kind === 'http' && showHTTP(columns, firstRow)) table.hidden = true;
    else table.hidden = false;
    if (!finished) showError({ code: 'incomplete', message: 'The connection closed before the result was complete.' });
  } catch (e) {
    if (e.name === 'AbortError') {
      setStatus(status, `Canceled after ${rows} rows.`, 'error');
    } else if (e instanceof SyntaxError) {
      showError({ code: 'protocol', message: 'The gateway sent a line that is not JSON.' });
    } else {
      showError({ code: 'network', message: 'The connection to the gateway failed.' });
    }
  } finally {
    clearInterval(timer);
    rowCount.textContent = String(rows);
    controller = null;
    busy(false);
  }
}

// exportCSV streams the CSV answer into a file download. Forms cannot send
// a JSON body, so the stream is read here chunk by chunk into a Blob (which
// the browser may keep on disk) and then saved; a cut stream saves nothing.
async function exportCSV() {
  if (controller) return;
  let body;
  reset();
  try {
    body = requestBody();
  } catch (e) {
    if (e instanceof InputError || e instanceof SplitError) return showError({ code: 'invalid', message: e.message });
    throw e;
  }
  remember();
  controller = new AbortController();
  busy(true);
  setStatus(status, 'Exporting…');
  try {
    const resp = await start(body, 'text/csv');
    if (!resp) return;
    const reader = resp.body.getReader();
    const chunks = [];
    let bytes = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.byteLength;
      rowCount.textContent = '–';
      setStatus(status, `Exporting… ${Math.round(bytes / 1024)} KiB`);
    }
    const url = URL.createObjectURL(new Blob(chunks, { type: 'text/csv' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `${document.querySelector('h1').textContent.trim().replace(/[^\w.-]+/g, '_') || 'query'}.csv`;
    a.id = 'csv-download';
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 60000);
    setStatus(status, `Exported ${bytes} bytes as ${a.download}.`, 'ok');
  } catch (e) {
    if (e.name === 'AbortError') setStatus(status, 'Export canceled; nothing was saved.', 'error');
    else showError({ code: 'incomplete', message: 'The export was interrupted; nothing was saved.' });
  } finally {
    controller = null;
    busy(false);
  }
}

// ---- device custody ----

const dialog = $('unlock-dialog');

// unlock asks for the password of a device-custody datasource and sends it
// once; it resolves true when this device is unlocked.
function unlock() {
  const pw = $('unlock-password');
  const remember = $('unlock-remember');
  const err = $('unlock-err');
  const st = $('unlock-status');
  pw.value = '';
  remember.checked = false;
  err.textContent = '';
  setStatus(st, '');
  return new Promise((resolve) => {
    const done = (ok) => {
      pw.value = '';
      cleanup();
      if (dialog.open) dialog.close();
      resolve(ok);
    };
    const onSubmit = async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      if (!pw.value) { err.textContent = 'Enter the password.'; pw.focus(); return; }
      setStatus(st, 'Checking the password with the datasource…');
      $('unlock-submit').disabled = true;
      const r = await api('POST', `/api/datasources/${encodeURIComponent(id)}/unlock`, { password: pw.value, remember: remember.checked });
      $('unlock-submit').disabled = false;
      if (!r.ok) {
        pw.value = '';
        err.textContent = `${r.error.code}: ${r.error.message}`;
        setStatus(st, '');
        pw.focus();
        return;
      }
      done(true);
    };
    const onCancel = () => done(false);
    const onClose = () => done(false);
    const cleanup = () => {
      $('unlock-form').removeEventListener('submit', onSubmit);
      $('unlock-cancel').removeEventListener('click', onCancel);
      dialog.removeEventListener('close', onClose);
    };
    $('unlock-form').addEventListener('submit', onSubmit);
    $('unlock-cancel').addEventListener('click', onCancel);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    pw.focus();
  });
}

// ---- wiring ----

form.addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
cancelBtn.addEventListener('click', () => controller?.abort());
exportBtn.addEventListener('click', () => exportCSV());
form.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    run();
  }
});
restore();
(editor || command || $('http-path'))?.focus();
