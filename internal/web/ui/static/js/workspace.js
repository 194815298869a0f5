// The query workspace of one datasource. For SQL: a schema browser, named
// editors with completion, statements run one by one into result tabs,
// errors marked in the editor. For Redis and HTTP: a command line or a
// request, run through the shared Runner (stream.js). Every kind keeps
// its history (and SQL its editors) in this browser only, under keys of
// the signed-in user (userstore.js) that logging out removes; results
// and passwords are never stored anywhere.
import { setStatus } from './app.js';
import { splitCommand } from './command.js';
import { createEditor } from './editor.js';
import { completeCommand } from './rediscmds.js';
import { renderResult } from './result.js';
import { SchemaTree } from './schematree.js';
import { complete, schemaIndex } from './sqlcomplete.js';
import { errorRange } from './sqlerror.js';
import { splitStatements, statementAt } from './sqltext.js';
import { InputError, Runner, doneText, postQuery, readNDJSON, safeFileName, showRowCount } from './stream.js';
import { History, readJSON, userKey, writeJSON } from './userstore.js';

const $ = (x) => document.getElementById(x);
const form = $('query-form');
const id = form.dataset.id;
const kind = form.dataset.kind;
const dialect = form.dataset.dialect || '';
const userID = document.body.dataset.user;
const path = `/api/datasources/${encodeURIComponent(id)}/query`;
const title = () => document.querySelector('h1').textContent;
const exportLimit = Number.parseInt($('export').dataset.limit, 10) || 0;

// storage is this browser's localStorage, or a page-long memory when the
// browser refuses it.
const storage = (() => {
  try {
    const s = window.localStorage;
    s.getItem('querygate.probe');
    return s;
  } catch {
    const m = new Map();
    return { get length() { return m.size; }, key: (i) => [...m.keys()][i] ?? null, getItem: (k) => m.get(k) ?? null,
      setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
  }
})();
const history = new History(storage, userID, id);

function rowLimit(defaultLimit) {
  const limit = $('limit').value.trim();
  if (limit) return Number.parseInt(limit, 10);
  return defaultLimit || undefined;
}

// ---- history (every kind) ----

// historyText shows an entry: HTTP entries are the request as JSON.
function historyText(e) {
  if (kind !== 'http') return e.text;
  try {
    const r = JSON.parse(e.text);
    return `${r.method} ${r.path}${r.body ? ' …' : ''}`;
  } catch { return e.text; }
}

function drawHistory() {
  const list = $('history-list');
  const q = $('history-search').value;
  const entries = history.search(q);
  list.replaceChildren();
  for (const e of entries.slice(0, 200)) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'history-entry mono';
    b.textContent = historyText(e);
    b.title = 'Put it in the editor';
    b.addEventListener('click', () => useHistory(e.text));
    const at = document.createElement('time');
    at.dateTime = new Date(e.at).toISOString();
    at.textContent = new Date(e.at).toLocaleString();
    li.append(b, at);
    list.append(li);
  }
  const all = history.list().length;
  $('history-status').textContent = !all ? 'Nothing run yet on this datasource in this browser.'
    : entries.length ? `${entries.length} of ${all}` : `Nothing matches “${q}”.`;
}

function remember(text) {
  history.add(text);
  if ($('history').open) drawHistory();
}

$('history').addEventListener('toggle', () => { if ($('history').open) drawHistory(); });
$('history-search').addEventListener('input', drawHistory);
$('history-forget').addEventListener('click', () => {
  if (!confirm('Forget the history of this datasource in this browser?')) return;
  history.clear();
  drawHistory();
});

// useHistory is set per kind: it puts an entry back in the form.
let useHistory = () => {};

// ---- save as a saved query: the text goes to the form through this tab's
// sessionStorage, under this user's key (never a URL, which ends up in
// logs and history) ----

function wireSaveAs(draftOf) {
  const saveAs = $('save-as');
  if (!saveAs) return;
  saveAs.addEventListener('click', () => {
    let draft = null;
    try { draft = draftOf(); } catch { draft = null; }
    try { sessionStorage.setItem(userKey(userID, `draft.${id}`), JSON.stringify(draft)); } catch { /* storage off: an empty form */ }
    location.assign(`/queries/new?datasource=${encodeURIComponent(id)}`);
  });
}

if (kind === 'redis' || kind === 'http') startRequestWorkspace();
else startSQLWorkspace();

// ---- Redis and HTTP ----

function startRequestWorkspace() {
  const runner = new Runner({ datasourceID: id, form });
  const run = () => runner.run(path, () => requestBody());
  let line = null;
  let body = null;
  if (kind === 'redis') {
    line = createEditor({ parent: $('command'), language: 'redis', label: 'Command (Enter runs it, Ctrl+Space lists commands)',
      complete: completeCommand, onRun: run, onCancel: () => runner.controller?.abort(), singleLine: true });
  } else {
    body = createEditor({ parent: $('http-body'), language: 'json', label: 'Body', minHeight: '7rem', maxHeight: '40vh',
      onRun: run, onCancel: () => runner.controller?.abort() });
  }
  const readForm = () => (kind === 'redis' ? { line: line.getText() } : {
    method: $('http-method').value, path: $('http-path').value,
    query: $('http-query').value, headers: $('http-headers').value, body: body.getText(),
  });
  const fill = (f) => {
    if (kind === 'redis') line.setText(f.line || '');
    else {
      $('http-method').value = f.method || 'GET';
      $('http-path').value = f.path || '';
      $('http-query').value = f.query || '';
      $('http-headers').value = f.headers || '';
      body.setText(f.body || '');
    }
  };
  const lines = (text, sep, what) => {
    const out = {};
    for (const l of text.split('\n')) {
      if (!l.trim()) continue;
      const i = l.indexOf(sep);
      if (i < 0) throw new InputError(`Write one ${what} per line as name${sep}value.`);
      const k = l.slice(0, i).trim();
      const v = l.slice(i + 1).trim();
      if (sep === '=' && k in out) out[k] = [].concat(out[k], v);
      else out[k] = v;
    }
    return out;
  };
  const httpRequest = (f) => {
    const r = { method: f.method, path: f.path.trim() };
    const q = lines(f.query, '=', 'parameter');
    if (Object.keys(q).length) r.query = q;
    const h = lines(f.headers, ':', 'header');
    if (Object.keys(h).length) r.headers = h;
    if (f.body.trim()) {
      try { r.body = JSON.parse(f.body); } catch { r.body = f.body; }
    }
    return r;
  };
  // requestBody reads the form; defaultLimit is sent when no row limit is
  // typed (an export asks for every row up to the gateway's maximum).
  function requestBody(defaultLimit) {
    const f = readForm();
    const req = {};
    const limit = rowLimit(defaultLimit);
    if (limit) req.limit = limit;
    if (kind === 'redis') {
      req.command = splitCommand(f.line);
      if (!req.command.length) throw new InputError('Enter a command.');
      remember(f.line.trim());
    } else {
      Object.assign(req, httpRequest(f));
      remember(JSON.stringify(f));
    }
    return req;
  }
  useHistory = (text) => {
    if (kind === 'redis') fill({ line: text });
    else {
      try { fill(JSON.parse(text)); } catch { /* not a request */ }
    }
    (line || body).focus();
  };
  wireSaveAs(() => {
    const f = readForm();
    return kind === 'redis' ? { command: splitCommand(f.line) } : { request: httpRequest(f) };
  });
  form.addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
  $('export').addEventListener('click', () => runner.exportCSV(path, () => requestBody(exportLimit), safeFileName(title(), 'csv')));
  form.addEventListener('keydown', (ev) => {
    if (!ev.defaultPrevented && ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      run();
    }
  });
  // The last request comes back: the newest history entry.
  const last = history.list()[0];
  if (last) useHistory(last.text);
  if (line) line.focus(); else $('http-path').focus();
}

// ---- SQL ----

function startSQLWorkspace() {
  let index = schemaIndex(null, dialect);
  let controller = null;
  const editorsKey = userKey(userID, `editors.${id}`);

  // The named editors of this datasource: {active, list: [{id, name, text}]}.
  let editors = readJSON(storage, editorsKey, null);
  if (!editors || !Array.isArray(editors.list) || !editors.list.length) {
    editors = { active: 'e1', list: [{ id: 'e1', name: 'Query 1', text: '' }] };
  }
  const current = () => editors.list.find((e) => e.id === editors.active) || editors.list[0];
  let saveTimer = null;
  const save = () => { clearTimeout(saveTimer); writeJSON(storage, editorsKey, editors); };
  // A reload or a navigation right after typing keeps the text too.
  window.addEventListener('pagehide', save);

  const editor = createEditor({
    parent: $('editor'), language: dialect, doc: current().text, label: 'SQL editor',
    complete: (text, pos) => complete(text, pos, index),
    onRun: () => runCurrent(), onRunAll: () => runAll(), onCancel: () => cancel(),
    onChange: (text) => {
      current().text = text;
      clearTimeout(saveTimer);
      saveTimer = setTimeout(save, 250);
    },
  });

  function drawTabs() {
    const bar = $('editor-tabs');
    bar.replaceChildren();
    for (const e of editors.list) {
      const b = document.createElement('button');
      b.type = 'button';
      b.role = 'tab';
      b.className = 'editor-tab';
      b.id = `editor-tab-${e.id}`;
      b.textContent = e.name;
      b.setAttribute('aria-selected', String(e.id === editors.active));
      b.tabIndex = e.id === editors.active ? 0 : -1;
      b.addEventListener('click', () => switchTo(e.id));
      b.addEventListener('dblclick', () => rename());
      b.addEventListener('keydown', (ev) => {
        const i = editors.list.indexOf(e);
        const to = ev.key === 'ArrowRight' ? i + 1 : ev.key === 'ArrowLeft' ? i - 1 : null;
        if (to === null || !editors.list[to]) return;
        switchTo(editors.list[to].id);
        $(`editor-tab-${editors.list[to].id}`).focus();
      });
      bar.append(b);
    }
    $('editor-close').disabled = editors.list.length < 2;
  }
  function switchTo(eid) {
    if (eid === editors.active) return;
    current().text = editor.getText();
    editors.active = eid;
    editor.setText(current().text);
    save();
    drawTabs();
  }
  function rename() {
    const name = prompt('Name of this editor', current().name);
    if (name === null || !name.trim()) return;
    current().name = name.trim().slice(0, 60);
    save();
    drawTabs();
  }
  $('editor-add').addEventListener('click', () => {
    current().text = editor.getText();
    let n = editors.list.length + 1;
    while (editors.list.some((e) => e.name === `Query ${n}`)) n++;
    const e = { id: `e${Date.now().toString(36)}`, name: `Query ${n}`, text: '' };
    editors.list.push(e);
    editors.active = e.id;
    editor.setText('');
    save();
    drawTabs();
    editor.focus();
  });
  $('editor-rename').addEventListener('click', rename);
  $('editor-close').addEventListener('click', () => {
    if (editors.list.length < 2) return;
    const e = current();
    if (e.text.trim() && !confirm(`Close “${e.name}”? Its text is not kept.`)) return;
    const i = editors.list.indexOf(e);
    editors.list.splice(i, 1);
    editors.active = editors.list[Math.max(0, i - 1)].id;
    editor.setText(current().text);
    save();
    drawTabs();
  });
  drawTabs();

  // ---- schema ----
  const tree = new SchemaTree({
    root: $('schema-tree'), filter: $('schema-filter'), status: $('schema-status'), refresh: $('schema-refresh'),
    datasourceID: id, dialect,
    onInsert: (text) => editor.insert(text),
    onStarter: (text) => {
      const doc = editor.getText();
      editor.setText(doc.trim() ? `${doc.replace(/\s*$/, '')}\n\n${text};` : `${text};`);
      editor.focus();
    },
    onIndex: (x) => { index = x; },
  });
  tree.load();

  // ---- runs ----
  const el = { run: $('run'), runAll: $('run-all'), cancel: $('cancel'), exp: $('export'), status: $('run-status'),
    error: $('query-error'), rowCount: $('row-count'), rowWord: $('row-word'), elapsed: $('elapsed'), tabs: $('result-tabs') };

  function busy(on) {
    el.run.disabled = on;
    el.runAll.disabled = on;
    el.exp.disabled = on;
    el.cancel.disabled = !on;
    form.setAttribute('aria-busy', String(on));
  }
  function cancel() {
    if (!controller) return false;
    controller.abort();
    return true;
  }
  el.cancel.addEventListener('click', cancel);

  function hideError() {
    el.error.hidden = true;
    editor.markError(null);
  }
  // showError shows a failed statement's error: the message a person
  // reads (never its code, kept in data-code), the detail and hint, and
  // the place in the editor.
  function showError(error, piece) {
    el.error.dataset.code = error.code || 'error';
    $('error-message').textContent = error.message || 'The query failed.';
    for (const [k, label] of [['detail', 'Detail: '], ['hint', 'Hint: ']]) {
      const p = $(`error-${k}`);
      p.textContent = error[k] ? label + error[k] : '';
      p.hidden = !error[k];
    }
    el.error.hidden = false;
    if (piece && editor.getText() === piece.doc) {
      const r = errorRange(piece.text, error);
      if (r) editor.markError({ from: piece.offset + r.from, to: piece.offset + r.to }, error.message);
    }
  }

  // pieces returns what Run runs: the selection, or the statement under
  // the cursor; all, every statement.
  function pieces(all) {
    const doc = editor.getText();
    const sel = editor.selection();
    if (!all && sel && doc.slice(sel.from, sel.to).trim()) {
      const raw = doc.slice(sel.from, sel.to);
      const lead = raw.length - raw.trimStart().length;
      return [{ text: raw.trim(), offset: sel.from + lead, doc }];
    }
    const list = all ? splitStatements(doc, dialect) : [statementAt(doc, editor.cursor(), dialect)].filter(Boolean);
    return list.map((s) => ({ text: doc.slice(s.from, s.to), offset: s.from, doc }));
  }

  // The statements' results: one tab each, drawn by the one result area
  // (result.js: the grid and its chart) that shows the tab selected. A
  // tab keeps its rows in memory while it is on screen, never elsewhere.
  let tabs = [];
  let shown = -1;
  const result = renderResult($('result'), {
    saveSource: $('save-as') ? () => ({ datasourceID: id, query: tabs[shown]?.piece.text ?? '' }) : undefined,
  });
  result.hidden = true;

  function newTab(i, piece) {
    const tab = document.createElement('button');
    tab.type = 'button';
    tab.role = 'tab';
    tab.id = `result-tab-${i}`;
    tab.className = 'stmt-tab';
    tab.setAttribute('aria-controls', 'result');
    tab.textContent = `${i + 1} · ${piece.text.replace(/\s+/g, ' ').slice(0, 28)}`;
    tab.title = piece.text.slice(0, 500);
    tab.addEventListener('click', () => showTab(i));
    tab.addEventListener('keydown', (ev) => {
      const to = ev.key === 'ArrowRight' ? i + 1 : ev.key === 'ArrowLeft' ? i - 1 : null;
      if (to !== null && tabs[to]) { showTab(to); $(`result-tab-${to}`).focus(); }
    });
    el.tabs.append(tab);
    el.tabs.hidden = false;
    const view = { piece, tab, columns: null, rows: [], count: 0, done: null, summary: '' };
    tabs.push(view);
    return view;
  }
  // showTab draws tab i's result in the result area.
  function showTab(i) {
    tabs.forEach((t, j) => {
      t.tab.setAttribute('aria-selected', String(j === i));
      t.tab.tabIndex = j === i ? 0 : -1;
    });
    if (shown === i) return;
    shown = i;
    const t = tabs[i];
    result.reset();
    result.hidden = !t.columns;
    if (t.columns) {
      result.setColumns(t.columns);
      for (const r of t.rows) result.push(r);
      result.flush();
      if (t.done) result.done(t.done);
    }
    drawSummary();
  }
  function drawSummary() {
    const t = tabs[shown];
    $('result-summary').textContent = t ? t.summary : '';
    $('truncated').hidden = !(t && t.done && t.done.truncated);
  }

  // runOne streams one statement into its tab (shown while it runs); it
  // returns the error, or null on success.
  async function runOne(piece, view, signal, t0) {
    const req = { query: piece.text };
    const limit = rowLimit();
    if (limit) req.limit = limit;
    remember(piece.text);
    const { resp, error } = await postQuery(path, req, 'application/x-ndjson', signal, id);
    if (!resp) return error;
    let failure = null;
    const on = () => shown === tabs.indexOf(view);
    await readNDJSON(resp, (msg) => {
      if (msg.columns) {
        view.columns = msg.columns;
        if (on()) { result.setColumns(msg.columns); result.hidden = false; }
      } else if (msg.row) {
        view.rows.push(msg.row);
        view.count++;
        if (on()) result.push(msg.row);
      } else if (msg.done) view.done = msg.done;
      else if (msg.error) failure = msg.error;
    }, () => {
      if (on()) result.flush();
      showRowCount(el, view.count);
      el.elapsed.textContent = String(Math.round(performance.now() - t0));
    });
    if (on()) {
      result.flush();
      if (view.done) result.done(view.done);
    }
    if (failure) return failure;
    if (!view.done) return { code: 'incomplete', message: 'The connection closed before the result was complete.' };
    view.summary = doneText(view.done, req);
    drawSummary();
    return null;
  }

  async function runPieces(list) {
    if (controller) return;
    save();
    hideError();
    if (!list.length) {
      showError({ code: 'invalid', message: 'Enter a query.' });
      setStatus(el.status, 'Nothing to run.', 'error');
      return;
    }
    el.tabs.replaceChildren();
    el.tabs.hidden = true;
    tabs = [];
    shown = -1;
    result.reset();
    result.hidden = true;
    drawSummary();
    controller = new AbortController();
    busy(true);
    const t0 = performance.now();
    const timer = setInterval(() => { el.elapsed.textContent = String(Math.round(performance.now() - t0)); }, 100);
    let i = 0;
    let view = null;
    try {
      for (; i < list.length; i++) {
        setStatus(el.status, list.length > 1 ? `Running statement ${i + 1} of ${list.length}…` : 'Running…');
        view = newTab(i, list[i]);
        showTab(i);
        const error = await runOne(list[i], view, controller.signal, t0);
        if (error) {
          view.summary = 'Failed.';
          drawSummary();
          showError(error, list[i]);
          setStatus(el.status, list.length > 1 ? `Statement ${i + 1} of ${list.length} failed; the rest did not run.` : 'The query failed.', 'error');
          return;
        }
        const prefix = list.length > 1 ? `Statement ${i + 1} of ${list.length}: ` : '';
        setStatus(el.status, prefix + view.summary, 'ok');
      }
      if (list.length > 1) setStatus(el.status, `${list.length} statements run; the last: ${view.summary}`, 'ok');
      tree.reloadIfLocked();
    } catch (e) {
      if (e.name === 'AbortError') {
        const rows = view?.count || 0;
        if (view) view.summary = `Canceled after ${rows} ${rows === 1 ? 'row' : 'rows'}.`;
        drawSummary();
        setStatus(el.status, `Canceled after ${rows} ${rows === 1 ? 'row' : 'rows'}${list.length > 1 ? ` of statement ${i + 1} of ${list.length}` : ''}.`, 'error');
      } else if (e instanceof SyntaxError) {
        showError({ code: 'protocol', message: 'The gateway sent a line that is not JSON.' });
      } else {
        showError({ code: 'network', message: 'The connection to the gateway failed.' });
      }
    } finally {
      clearInterval(timer);
      controller = null;
      busy(false);
    }
  }
  const runCurrent = () => runPieces(pieces(false));
  const runAll = () => runPieces(pieces(true));

  // exportCSV streams the statement under the cursor (or the selection)
  // as CSV into a download; a cut stream saves nothing.
  async function exportCSV() {
    if (controller) return;
    hideError();
    const [piece] = pieces(false);
    if (!piece) return showError({ code: 'invalid', message: 'Enter a query.' });
    controller = new AbortController();
    busy(true);
    setStatus(el.status, 'Exporting…');
    const req = { query: piece.text };
    const limit = rowLimit(exportLimit);
    if (limit) req.limit = limit;
    try {
      remember(piece.text);
      const { resp, error } = await postQuery(path, req, 'text/csv', controller.signal, id);
      if (!resp) {
        showError(error, piece);
        setStatus(el.status, 'The export failed.', 'error');
        return;
      }
      const reader = resp.body.getReader();
      const chunks = [];
      let bytes = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        chunks.push(value);
        bytes += value.byteLength;
        setStatus(el.status, `Exporting… ${Math.round(bytes / 1024)} KiB`);
      }
      const url = URL.createObjectURL(new Blob(chunks, { type: 'text/csv' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = safeFileName(title(), 'csv');
      a.id = 'csv-download';
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 60000);
      setStatus(el.status, `Exported ${bytes} bytes as ${a.download}${limit ? ` (at most ${limit} rows, the row limit)` : ''}.`, 'ok');
    } catch (e) {
      if (e.name === 'AbortError') setStatus(el.status, 'Export canceled; nothing was saved.', 'error');
      else showError({ code: 'incomplete', message: 'The export was interrupted; nothing was saved.' });
    } finally {
      controller = null;
      busy(false);
    }
  }

  form.addEventListener('submit', (ev) => { ev.preventDefault(); runCurrent(); });
  el.runAll.addEventListener('click', runAll);
  el.exp.addEventListener('click', exportCSV);
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && controller) cancel(); });
  useHistory = (text) => {
    const doc = editor.getText();
    editor.setText(doc.trim() ? `${doc.replace(/\s*$/, '')}\n\n${text}` : text);
    editor.focus();
  };
  wireSaveAs(() => ({ query: (pieces(false)[0] || { text: editor.getText() }).text }));
  editor.focus();
}
