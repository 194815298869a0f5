// The datasource form: generated on the server from the kind's schema; this
// module turns it into the API's JSON, shows errors next to their field,
// handles "Replace" on stored secrets and the connection test.
//
// A stored secret is never in the page: its field is disabled and empty
// ("Encrypted on the server side"). Saving without "Replace" sends no
// secret, so the stored one is kept.
import './access.js';
import { api, clearErrors, errorText, setStatus, showError } from './app.js';

const form = document.getElementById('datasource-form');
if (form) init(form);

function parseHeaders(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf(':');
    if (i < 0) return { error: 'Write one header per line as Name: value.' };
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return { value: out };
}

// valueOf reads one input as the API wants it: undefined when empty.
function valueOf(input) {
  const type = input.dataset.type;
  if (type === 'bool') return input.checked;
  const raw = input.value;
  if (raw.trim() === '') return undefined;
  switch (type) {
    case 'port':
    case 'int': {
      const n = Number(raw.trim());
      return Number.isInteger(n) ? n : raw.trim(); // the API names a non-integer
    }
    case 'headers': {
      const h = parseHeaders(raw);
      return h.error ? { __error: h.error } : h.value;
    }
    case 'pem':
      return raw;
    default:
      return raw.trim();
  }
}

function init(form) {
  const status = document.getElementById('form-status');
  const editing = Boolean(form.dataset.id);
  const settingInputs = [...form.querySelectorAll('[data-key^="settings."]')];
  const snapshot = (inputs) => new Map(inputs.map((i) => [i, JSON.stringify(valueOf(i) ?? null)]));
  const initial = snapshot(settingInputs);
  const initialName = form.elements.name.value;
  const initialReadOnly = form.elements.read_only.checked;

  // Device custody keeps the device password off the server: hide its field.
  const devicePw = form.querySelector('[data-device-password]');
  const custodyRadios = [...form.querySelectorAll('input[name="custody"]')];
  const syncCustody = () => {
    const device = custodyRadios.some((r) => r.checked && r.value === 'device');
    if (devicePw) {
      devicePw.hidden = device;
      for (const i of devicePw.querySelectorAll('input, textarea')) i.disabled = device;
    }
  };
  // Only a new datasource chooses its custody; an edit form has no radios.
  for (const r of custodyRadios) r.addEventListener('change', syncCustody);
  if (custodyRadios.length) syncCustody();

  form.addEventListener('click', (ev) => {
    const btn = ev.target.closest('[data-replace]');
    if (!btn) return;
    const input = document.getElementById(btn.dataset.replace);
    if (input.disabled) {
      input.disabled = false;
      input.dataset.replaced = '';
      input.placeholder = 'Enter the new value';
      btn.textContent = 'Keep the stored value';
      input.focus();
    } else {
      keepStored(input, btn);
    }
  });

  function keepStored(input, btn) {
    input.value = '';
    input.disabled = true;
    delete input.dataset.replaced;
    input.placeholder = 'Encrypted on the server side';
    if (btn) btn.textContent = 'Replace';
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const body = {};
    const settings = {};
    const secrets = {};
    for (const input of settingInputs) {
      const name = input.dataset.key.slice('settings.'.length);
      const v = valueOf(input);
      if (v && v.__error) return showError(form, status, { field: input.dataset.key, message: v.__error });
      if (editing) {
        if (JSON.stringify(v ?? null) === initial.get(input)) continue;
        settings[name] = v === undefined ? null : v; // null: back to the default
      } else if (v !== undefined) {
        settings[name] = v;
      }
    }
    for (const input of form.querySelectorAll('[data-secret]')) {
      if (input.disabled) continue; // stored and not replaced, or not for this custody
      const v = valueOf(input);
      if (v === undefined) continue;
      if (v.__error) return showError(form, status, { field: input.dataset.key, message: v.__error });
      secrets[input.dataset.key.slice('secrets.'.length)] = v;
    }
    const name = form.elements.name.value.trim();
    if (!editing) {
      Object.assign(body, {
        name, kind: form.dataset.kind, read_only: form.elements.read_only.checked,
        custody: custodyRadios.find((r) => r.checked)?.value || 'server', settings, secrets,
      });
    } else {
      if (name !== initialName) body.name = name;
      if (form.elements.read_only.checked !== initialReadOnly) body.read_only = form.elements.read_only.checked;
      if (Object.keys(settings).length) body.settings = settings;
      if (Object.keys(secrets).length) body.secrets = secrets;
    }
    setStatus(status, 'Saving…');
    const r = editing
      ? await api('PATCH', `/api/datasources/${encodeURIComponent(form.dataset.id)}`, body)
      : await api('POST', '/api/datasources', body);
    if (!r.ok) {
      showError(form, status, r.error);
      return;
    }
    if (!editing) {
      location.assign(`/datasources/${encodeURIComponent(r.data.id)}/edit?created=1`);
      return;
    }
    // A reload shows every stored secret as its placeholder again.
    location.assign(`/datasources/${encodeURIComponent(form.dataset.id)}/edit?saved=1`);
  });

  const test = document.getElementById('test-connection');
  if (test) {
    const testStatus = document.getElementById('test-status');
    test.addEventListener('click', async () => {
      test.disabled = true;
      setStatus(testStatus, 'Testing the connection with the saved settings…');
      const r = await api('POST', `/api/datasources/${encodeURIComponent(form.dataset.id)}/test`);
      test.disabled = false;
      if (r.ok) {
        setStatus(testStatus, 'Connection works.', 'ok');
      } else if (r.error.code === 'device_locked') {
        setStatus(testStatus, 'device_locked: unlock this datasource on this device (run a query in the workspace) to test it.', 'error');
      } else {
        setStatus(testStatus, errorText(r.error), 'error');
      }
    });
  }
}
