// A saved query's run page: the form generated from its typed parameters
// (the page's template), run and exported through the shared Runner. Values
// are sent as JSON of the declared type; the gateway checks and binds them.
// Nothing typed here is stored anywhere.
import { setStatus, showError } from './app.js';
import { InputError, Runner, safeFileName } from './stream.js';

const form = document.getElementById('query-form');
const $ = (x) => document.getElementById(x);
const id = form.dataset.id;
const version = Number.parseInt(form.dataset.version, 10);
const path = `/api/queries/${encodeURIComponent(id)}/run`;
const status = $('run-status');
const runner = new Runner({
  datasourceID: form.dataset.datasource, form,
  onError: (error) => Boolean(error.field && error.field.startsWith('params') && showError(form, status, error)),
});

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

// paramJSON returns the JSON text of one value, or null when the field is
// empty (the gateway then uses the default, or null). Numbers keep their
// digits exactly as typed: they are written into the JSON text, not parsed.
function paramJSON(type, raw) {
  const v = raw.trim();
  if (v === '') return null;
  switch (type) {
    case 'int':
    case 'number':
      return NUMBER.test(v) ? v : JSON.stringify(v); // a string is refused by the gateway, with the field named
    case 'bool':
      return v === 'true' ? 'true' : 'false';
    case 'timestamp': {
      const t = new Date(v); // datetime-local is the viewer's local time
      if (Number.isNaN(t.getTime())) throw new InputError('Enter a valid date and time.');
      return JSON.stringify(t.toISOString());
    }
    default:
      return JSON.stringify(raw);
  }
}

// requestBody reads the form; defaultLimit is sent when no row limit is
// typed (an export asks for every row up to the gateway's maximum).
function requestBody(defaultLimit) {
  const parts = [];
  for (const field of form.querySelectorAll('[data-param]')) {
    const input = field.querySelector('input, select');
    const v = paramJSON(field.dataset.type, input.value);
    if (v !== null) parts.push(`${JSON.stringify(field.dataset.param)}:${v}`);
  }
  let body = `{"params":{${parts.join(',')}},"version":${version}`;
  const limit = $('limit').value.trim();
  if (limit) {
    const n = Number.parseInt(limit, 10);
    if (!(n > 0)) throw new InputError('The row limit must be a positive number.');
    body += `,"limit":${n}`;
  } else if (defaultLimit) body += `,"limit":${defaultLimit}`;
  return `${body}}`;
}

// A link shares the view: parameter values in the URL (?region=north)
// fill the form, and each run writes the values it ran with into the URL.
// A link only fills the form: opening it never runs the statement.
const fields = () => [...form.querySelectorAll('[data-param]')].map((f) => [f.dataset.param, f.querySelector('input, select')]);
const fromURL = new URLSearchParams(location.search);
for (const [name, input] of fields()) if (input && name !== 'version' && fromURL.has(name)) input.value = fromURL.get(name);

function valuesToURL() {
  const u = new URLSearchParams();
  if (fromURL.has('version')) u.set('version', fromURL.get('version')); // an older version's page
  for (const [name, input] of fields()) if (input && input.value !== '') u.set(name, input.value);
  const q = u.toString();
  history.replaceState(null, '', `${location.pathname}${q ? `?${q}` : ''}`);
}

const exportLimit = Number.parseInt($('export').dataset.limit, 10) || 0;
form.addEventListener('submit', (ev) => { ev.preventDefault(); valuesToURL(); runner.run(path, () => requestBody()); });
$('export').addEventListener('click', () => runner.exportCSV(path, () => requestBody(exportLimit), safeFileName(document.querySelector('h1').textContent, 'csv')));
form.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    valuesToURL();
    runner.run(path, () => requestBody());
  }
});
setStatus(status, '');
form.querySelector('input, select')?.focus();
