// One query runner for every page that runs something (the ad-hoc
// workspace and saved queries): it posts the request, renders the NDJSON
// stream row by row as it arrives (DESIGN section 5), cancels by aborting
// the request (the gateway then cancels at the datasource), streams CSV
// into a download, and unlocks device-custody datasources when the
// gateway answers device_locked. Results and passwords are never stored:
// not in browser storage, not in the DOM after they leave the screen.
//
// The page provides the elements of the "results" and "unlock" template
// blocks (partials.html), found by their ids.
import { api, clearErrors, setStatus } from './app.js';
import { formatValue } from './format.js';
import { renderResult } from './result.js';

const $ = (x) => document.getElementById(x);

/** cell renders one value as a table cell by the one rule of format.js. */
export function cell(v, type) {
  const td = document.createElement('td');
  const { text, cls } = formatValue(v, type);
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

/** errorOf reads the gateway's {error:{code,message}} from a failed response. */
export async function errorOf(resp) {
  try {
    const data = await resp.json();
    if (data && data.error) return data.error;
  } catch { /* not JSON */ }
  return { code: `http_${resp.status}`, message: 'The request failed.' };
}

/**
 * readNDJSON reads a streamed answer line by line, calling onMessage with
 * each parsed message and onChunk after each network chunk (so that a page
 * can add the rows of one chunk in one go). A line that is not JSON throws
 * a SyntaxError.
 */
export async function readNDJSON(resp, onMessage, onChunk = () => {}) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    const nl = buf.lastIndexOf('\n');
    if (nl >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      parseLines(text, onMessage);
    }
    onChunk();
  }
  buf += decoder.decode();
  if (buf.trim()) onMessage(JSON.parse(buf));
  onChunk();
}

// parseLines parses the whole lines of one chunk in one JSON.parse (a
// line of NDJSON never holds a raw newline, so the lines joined by commas
// are a JSON array); a chunk that does not parse so is read line by line,
// which throws at the bad line.
function parseLines(text, onMessage) {
  let msgs = null;
  try {
    msgs = JSON.parse(`[${text.split('\n').filter((l) => l.trim()).join(',')}]`);
  } catch {
    msgs = null;
  }
  if (msgs) {
    for (const m of msgs) onMessage(m);
    return;
  }
  for (const line of text.split('\n')) if (line.trim()) onMessage(JSON.parse(line));
}

/**
 * postQuery posts a JSON body to a query endpoint and returns the response,
 * asking for the password and retrying when the datasource is locked on
 * this device. body is an object, or JSON text already encoded (to keep
 * numbers exact). It returns {resp} on success or {error} when the request was
 * refused (the unlock prompt canceled included).
 */
export async function postQuery(path, body, accept, signal, datasourceID) {
  for (;;) {
    let resp;
    try {
      resp = await fetch(path, {
        method: 'POST', credentials: 'same-origin', signal,
        headers: { 'Content-Type': 'application/json', Accept: accept },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      return { error: { code: 'network', message: 'The gateway could not be reached.' } };
    }
    if (resp.ok) return { resp };
    const error = await errorOf(resp);
    // Back to this very view after login (the login page checks the path).
    if (resp.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    if (error.code === 'device_locked' && datasourceID && await unlockDevice(datasourceID)) continue;
    return { error };
  }
}

// ---- device custody ----

let unlocking = null; // one prompt at a time, shared by every caller on the page

/**
 * unlockDevice asks for the password of a device-custody datasource and
 * sends it once; it resolves true when this device is unlocked. Callers
 * that ask while a prompt is open share its answer, so a page that runs
 * several queries prompts once.
 */
export function unlockDevice(datasourceID) {
  if (!unlocking) unlocking = prompt(datasourceID).finally(() => { unlocking = null; });
  return unlocking;
}

function prompt(datasourceID) {
  const dialog = $('unlock-dialog');
  if (!dialog) return Promise.resolve(false);
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
      const r = await api('POST', `/api/datasources/${encodeURIComponent(datasourceID)}/unlock`, { password: pw.value, remember: remember.checked });
      $('unlock-submit').disabled = false;
      if (!r.ok) {
        pw.value = '';
        err.textContent = r.error.message;
        setStatus(st, '');
        pw.focus();
        return;
      }
      done(true);
    };
    const onCancel = () => done(false);
    const cleanup = () => {
      $('unlock-form').removeEventListener('submit', onSubmit);
      $('unlock-cancel').removeEventListener('click', onCancel);
      dialog.removeEventListener('close', onCancel);
    };
    $('unlock-form').addEventListener('submit', onSubmit);
    $('unlock-cancel').addEventListener('click', onCancel);
    dialog.addEventListener('close', onCancel);
    dialog.showModal();
    pw.focus();
  });
}

// ---- the result area ----

/** InputError is a problem with what the user typed, shown like a query error. */
export class InputError extends Error {}

/** safeFileName makes a download name from a title. */
export function safeFileName(title, ext) {
  return `${(title || '').trim().replace(/[^\w.-]+/g, '_') || 'query'}.${ext}`;
}

const VERBS = { insert: 'inserted', update: 'updated', delete: 'deleted', merge: 'merged', replace: 'replaced', copy: 'copied' };

/**
 * doneText is the status line of a finished result: "2 rows in 3 ms" for
 * rows, "3 rows updated in 3 ms" (the verb from the statement) or "1 row
 * affected" for a statement without rows.
 */
/** showRowCount shows n (or a dash) in the counter, with "row" or "rows". */
export function showRowCount(el, n) {
  el.rowCount.textContent = typeof n === 'number' ? String(n) : n;
  if (el.rowWord) el.rowWord.textContent = n === 1 ? 'row' : 'rows';
}

export function doneText(done, body) {
  const rows = (n) => `${n.toLocaleString()} ${n === 1 ? 'row' : 'rows'}`;
  const ms = `in ${done.elapsed_ms} ms`;
  if (done.rows_affected !== undefined && !done.rows) {
    if (done.rows_affected < 0) return `Done ${ms}.`;
    let text = '';
    try { text = typeof body === 'string' ? JSON.parse(body).query || '' : (body && body.query) || ''; } catch { text = ''; }
    // The first word of the statement, past comments and a WITH clause.
    const words = text.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ').toLowerCase().match(/\b(insert|update|delete|merge|replace|copy)\b/);
    return `${rows(done.rows_affected)} ${words ? VERBS[words[1]] : 'affected'} ${ms}.`;
  }
  return `${rows(done.rows)} ${ms}${done.truncated ? ', cut at the row limit' : ''}.`;
}

/**
 * Runner drives the result area of a page: Run, Cancel and Export CSV
 * buttons, the live row count and elapsed time, the status line, errors
 * with their code, the truncation note, the table and (for HTTP
 * datasources) the response viewer.
 */
export class Runner {
  // onError, when given, may take a refused request's error (say, to show
  // it next to a field) by returning true.
  // saveSource, when given, lets the chart view save the result's query
  // (see chartview.js).
  constructor({ datasourceID, form, onError, saveSource }) {
    this.datasourceID = datasourceID;
    this.form = form;
    this.onError = onError || (() => false);
    this.controller = null;
    this.el = {
      run: $('run'), cancel: $('cancel'), export: $('export'), rowCount: $('row-count'), rowWord: $('row-word'), elapsed: $('elapsed'),
      status: $('run-status'), errorBox: $('query-error'), truncated: $('truncated'), viewer: $('http-response'),
    };
    // The result area: one call renders a streamed result (grid.js).
    this.grid = renderResult($('result'), { saveSource });
    this.grid.hidden = true;
    this.el.cancel.addEventListener('click', () => this.controller?.abort());
  }

  get running() { return this.controller !== null; }

  reset() {
    const { errorBox, truncated, elapsed, viewer } = this.el;
    clearErrors(this.form || document);
    errorBox.hidden = true;
    truncated.hidden = true;
    this.grid.reset();
    this.grid.hidden = true;
    showRowCount(this.el, '0');
    elapsed.textContent = '0';
    if (viewer) viewer.hidden = true;
  }

  showError(error) {
    // People read the message; the code stays in data-code for scripts
    // and tests, never shown as a prefix.
    this.el.errorBox.dataset.code = error.code || 'error';
    $('error-message').textContent = error.message || 'The query failed.';
    this.el.errorBox.hidden = false;
    setStatus(this.el.status, 'The query failed.', 'error');
  }

  busy(on) {
    this.el.run.disabled = on;
    this.el.export.disabled = on;
    this.el.cancel.disabled = !on;
    this.form?.setAttribute('aria-busy', String(on));
  }

  // showHTTP fills the response viewer when the result is one HTTP
  // response (columns status, headers and body).
  showHTTP(columns, row) {
    const viewer = this.el.viewer;
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
      tr.append(th, cell(Array.isArray(v) ? v.join(', ') : v, ''));
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

  // bodyOf builds a request body, showing an InputError as a query error
  // (and returning undefined).
  bodyOf(makeBody) {
    try {
      return makeBody();
    } catch (e) {
      if (e instanceof InputError) return void this.showError({ code: 'invalid', message: e.message });
      throw e;
    }
  }

  /** run posts body to path and renders the streamed rows. makeBody may throw InputError. */
  async run(path, makeBody) {
    if (this.controller) return;
    this.reset();
    const body = this.bodyOf(makeBody);
    if (body === undefined) return;
    this.lastBody = body; // what the result on screen came from
    const { elapsed, status, truncated } = this.el;
    const grid = this.grid;
    this.controller = new AbortController();
    this.busy(true);
    setStatus(status, 'Running…');
    const t0 = performance.now();
    const timer = setInterval(() => { elapsed.textContent = String(Math.round(performance.now() - t0)); }, 100);
    let rows = 0;
    let columns = null;
    let firstRow = null;
    let finished = false;
    try {
      const { resp, error } = await postQuery(path, body, 'application/x-ndjson', this.controller.signal, this.datasourceID);
      if (!resp) {
        finished = true;
        if (!this.onError(error)) this.showError(error);
        return;
      }
      await readNDJSON(resp, (msg) => {
        if (msg.row) {
          if (!firstRow) firstRow = msg.row;
          grid.push(msg.row);
          rows++;
        } else if (msg.columns) {
          columns = msg.columns;
          grid.hidden = false;
          grid.setColumns(columns);
        } else if (msg.done) {
          finished = true;
          elapsed.textContent = String(msg.done.elapsed_ms);
          truncated.hidden = !msg.done.truncated;
          grid.done(msg.done);
          setStatus(status, doneText(msg.done, body), 'ok');
        } else if (msg.error) {
          finished = true;
          this.showError(msg.error);
        }
      }, () => {
        grid.flush();
        showRowCount(this.el, rows);
      });
      if (this.showHTTP(columns, firstRow)) grid.hidden = true;
      if (!finished) this.showError({ code: 'incomplete', message: 'The connection closed before the result was complete.' });
    } catch (e) {
      if (e.name === 'AbortError') {
        setStatus(status, `Canceled after ${rows} ${rows === 1 ? 'row' : 'rows'}.`, 'error');
      } else if (e instanceof SyntaxError) {
        this.showError({ code: 'protocol', message: 'The gateway sent a line that is not JSON.' });
      } else {
        this.showError({ code: 'network', message: 'The connection to the gateway failed.' });
      }
    } finally {
      clearInterval(timer);
      showRowCount(this.el, rows);
      this.controller = null;
      this.busy(false);
    }
  }

  /**
   * exportCSV streams the CSV answer into a file download. Forms cannot
   * send a JSON body, so the stream is read here chunk by chunk into a Blob
   * (which the browser may keep on disk) and then saved; a cut stream saves
   * nothing.
   */
  async exportCSV(path, makeBody, fileName) {
    if (this.controller) return;
    this.reset();
    const body = this.bodyOf(makeBody);
    if (body === undefined) return;
    const { status } = this.el;
    this.controller = new AbortController();
    this.busy(true);
    setStatus(status, 'Exporting…');
    try {
      const { resp, error } = await postQuery(path, body, 'text/csv', this.controller.signal, this.datasourceID);
      if (!resp) {
        if (!this.onError(error)) this.showError(error);
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
        showRowCount(this.el, '–');
        setStatus(status, `Exporting… ${Math.round(bytes / 1024)} KiB`);
      }
      const url = URL.createObjectURL(new Blob(chunks, { type: 'text/csv' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = fileName;
      a.id = 'csv-download';
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 60000);
      const limit = typeof body === 'string' ? JSON.parse(body).limit : body.limit;
      setStatus(status, `Exported ${bytes} bytes as ${a.download}${limit ? ` (at most ${limit} rows, the row limit)` : ''}.`, 'ok');
    } catch (e) {
      if (e.name === 'AbortError') setStatus(status, 'Export canceled; nothing was saved.', 'error');
      else this.showError({ code: 'incomplete', message: 'The export was interrupted; nothing was saved.' });
    } finally {
      this.controller = null;
      this.busy(false);
    }
  }
}
