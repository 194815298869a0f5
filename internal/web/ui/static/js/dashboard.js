// A dashboard view: every panel runs its saved query through
// POST /api/queries/{id}/run with this viewer's grants, and draws the rows
// as they stream in. Rows live in this page's memory only: nothing is
// written to browser storage, and the gateway keeps nothing either.
import { setStatus } from './app.js';
import { draw, svgText } from './charts.js';
import { isNumericType } from './format.js';
import { cell, postQuery, readNDJSON, safeFileName } from './stream.js';

const root = document.getElementById('dashboard');
const $ = (x) => document.getElementById(x);
const data = JSON.parse(root.dataset.dashboard);
const def = data.definition;
const status = $('dashboard-status');
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

// ---- inputs ----

function inputJSON(input, raw) {
  const v = raw.trim();
  if (v === '') return null;
  switch (input.type) {
    case 'int':
    case 'number':
      return NUMBER.test(v) ? v : JSON.stringify(v);
    case 'bool':
      return v === 'true' ? 'true' : 'false';
    case 'timestamp': {
      const t = new Date(v);
      return Number.isNaN(t.getTime()) ? JSON.stringify(v) : JSON.stringify(t.toISOString());
    }
    default:
      return JSON.stringify(raw);
  }
}

function inputValues() {
  const out = {};
  for (const input of def.inputs) {
    const elx = document.getElementById(`in-${input.name}`);
    out[input.name] = elx ? inputJSON(input, elx.value) : null;
  }
  return out;
}

// Inputs start at their defaults (a timestamp in the viewer's own zone).
for (const input of def.inputs) {
  const elx = document.getElementById(`in-${input.name}`);
  if (!elx || input.default === undefined || input.default === null) continue;
  let v = input.default;
  if (input.type === 'timestamp' && typeof v === 'string') {
    const t = new Date(v);
    if (!Number.isNaN(t.getTime())) v = new Date(t.getTime() - t.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }
  elx.value = String(v);
}

// A link shares the view: input values in the URL (?since=2024-03-01)
// override the defaults, and each refresh writes the values shown back
// into it. (The gateway's request log records the path only, never the
// query string.)
const fromURL = new URLSearchParams(location.search);
for (const input of def.inputs) {
  const elx = document.getElementById(`in-${input.name}`);
  if (elx && fromURL.has(input.name)) elx.value = fromURL.get(input.name);
}

function inputsToURL() {
  const u = new URLSearchParams();
  for (const input of def.inputs) {
    const elx = document.getElementById(`in-${input.name}`);
    if (elx && elx.value !== '') u.set(input.name, elx.value);
  }
  const q = u.toString();
  history.replaceState(null, '', `${location.pathname}${q ? `?${q}` : ''}`);
}

// ---- panels ----

class PanelView {
  constructor(panel) {
    this.p = panel;
    this.q = (data.queries || {})[panel.id] || { can_run: false };
    this.box = document.querySelector(`[data-panel="${CSS.escape(panel.id)}"]`);
    this.body = this.box.querySelector('.panel-body');
    this.note = this.box.querySelector('.panel-note');
    this.controller = null;
    this.columns = [];
    this.rows = [];
    this.svg = null;
    this.box.querySelector('[data-act="refresh"]').addEventListener('click', () => this.run());
    this.box.querySelector('[data-act="svg"]').addEventListener('click', () => this.exportSVG());
    this.box.querySelector('[data-act="png"]').addEventListener('click', () => this.exportPNG());
    this.box.querySelector('[data-act="csv"]').addEventListener('click', () => this.exportCSV());
  }

  setNote(s, kind = '') {
    this.note.textContent = s;
    this.note.className = `panel-note ${kind}`;
  }

  // requestBody is the run's JSON text: fixed values as the definition
  // holds them, input values as typed (numbers keep their digits).
  requestBody(inputs, limit) {
    const parts = [];
    for (const [name, b] of Object.entries(this.p.params || {})) {
      const v = b.input ? inputs[b.input] : JSON.stringify(b.value);
      if (v !== null && v !== undefined) parts.push(`${JSON.stringify(name)}:${v}`);
    }
    return `{"params":{${parts.join(',')}},"limit":${limit}}`;
  }

  render() {
    try {
      if (this.p.viz.type === 'table') {
        const t = document.createElement('table');
        t.className = 'grid compact';
        const head = t.createTHead().insertRow();
        for (const c of this.columns) {
          const th = document.createElement('th');
          th.scope = 'col';
          th.textContent = c.name;
          if (isNumericType(c.type)) th.className = 'num';
          head.append(th);
        }
        const tb = t.createTBody();
        for (const r of this.rows.slice(0, 500)) {
          const tr = tb.insertRow();
          r.forEach((v, i) => tr.append(cell(v, this.columns[i]?.type)));
        }
        const wrap = document.createElement('div');
        wrap.className = 'table-wrap';
        wrap.append(t);
        this.body.replaceChildren(wrap);
        this.svg = null;
      } else {
        this.svg = draw(this.body, this.p.viz, this.columns, this.rows);
      }
    } catch (e) {
      this.body.replaceChildren();
      this.setNote(e.message, 'is-error');
    }
  }

  async run() {
    if (!this.q.can_run) {
      this.body.replaceChildren();
      this.setNote('You cannot run this panel’s saved query: ask for a run grant on its datasource.', 'is-error');
      this.box.classList.add('refused');
      this.box.setAttribute('aria-busy', 'false');
      return;
    }
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.box.setAttribute('aria-busy', 'true');
    this.setNote('Loading…');
    this.columns = [];
    this.rows = [];
    let pending = false;
    const redraw = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; this.render(); });
    };
    const t0 = performance.now();
    try {
      const { resp, error } = await postQuery(`/api/queries/${encodeURIComponent(this.p.query_id)}/run`, this.requestBody(inputValues(), this.p.limit || 1000),
        'application/x-ndjson', controller.signal, this.q.datasource_id);
      if (!resp) {
        this.body.replaceChildren();
        const refused = error.code === 'not_found' || error.code === 'forbidden';
        this.setNote(refused ? 'You cannot run this panel’s saved query: ask for a run grant on its datasource.' : error.message, 'is-error');
        this.box.classList.toggle('refused', refused);
        return;
      }
      let done = null;
      let failed = null;
      await readNDJSON(resp, (msg) => {
        if (msg.columns) this.columns = msg.columns;
        else if (msg.row) this.rows.push(msg.row);
        else if (msg.done) done = msg.done;
        else if (msg.error) failed = msg.error;
      }, () => { this.setNote(`Loading… ${this.rows.length} rows`); redraw(); });
      this.render();
      if (failed) this.setNote(failed.message, 'is-error');
      else if (!done) this.setNote('The connection closed before the result was complete.', 'is-error');
      else {
        const ms = Math.round(performance.now() - t0);
        const n = `${done.rows} ${done.rows === 1 ? 'row' : 'rows'}`;
        this.setNote(done.truncated ? `Truncated at ${n} (the panel’s limit) · ${ms} ms` : `${n} · ${ms} ms`, done.truncated ? 'is-warn' : '');
      }
    } catch (e) {
      if (e.name !== 'AbortError') this.setNote('The connection to the gateway failed.', 'is-error');
    } finally {
      if (this.controller === controller) this.controller = null;
      this.box.setAttribute('aria-busy', 'false');
    }
  }

  download(blob, ext) {
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = safeFileName(this.p.title || this.p.id, ext);
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 60000);
  }

  exportSVG() {
    if (!this.svg) return this.setNote('Only charts export as pictures; use CSV for this panel.', 'is-error');
    this.download(new Blob([svgText(this.svg)], { type: 'image/svg+xml' }), 'svg');
  }

  exportPNG() {
    if (!this.svg) return this.setNote('Only charts export as pictures; use CSV for this panel.', 'is-error');
    const text = svgText(this.svg);
    const img = new Image();
    img.onload = () => {
      const scale = 2;
      const c = document.createElement('canvas');
      c.width = img.width * scale;
      c.height = img.height * scale;
      const ctx = c.getContext('2d');
      ctx.scale(scale, scale);
      ctx.drawImage(img, 0, 0);
      c.toBlob((b) => this.download(b, 'png'), 'image/png');
    };
    // A data: URL: the page's policy allows images from data: only.
    img.src = `data:image/svg+xml;base64,${btoa(unescape(encodeURIComponent(text)))}`;
  }

  exportCSV() {
    const q = (v) => {
      const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
      return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    };
    const lines = [this.columns.map((c) => q(c.name)).join(',')];
    for (const r of this.rows) lines.push(r.map(q).join(','));
    this.download(new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv' }), 'csv');
  }
}

const panels = def.panels.map((p) => new PanelView(p));

async function runAll() {
  setStatus(status, 'Refreshing…');
  await Promise.all(panels.map((p) => p.run()));
  setStatus(status, `Updated at ${new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' }).format(new Date())}.`, 'ok');
}

$('refresh-all').addEventListener('click', runAll);
$('inputs-form')?.addEventListener('submit', (ev) => { ev.preventDefault(); inputsToURL(); runAll(); });
let timer = null;
$('auto-refresh').addEventListener('change', (ev) => {
  clearInterval(timer);
  const s = Number(ev.target.value);
  timer = s > 0 ? setInterval(() => { if (!document.hidden) runAll(); }, s * 1000) : null;
});
let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => panels.forEach((p) => p.columns.length && p.render()), 200);
});
runAll();
