// The datasource form: generated on the server from the kind's schema; this
// module turns it into the API's JSON, shows errors next to their field,
// handles "Replace" on stored secrets and the connection test.
//
// A stored secret is never in the page: its field is disabled and empty
// ("Encrypted on the server side"). Saving without "Replace" sends no
// secret, so the stored one is kept.
import './access.js';
import { api, clearErrors, setStatus, showError } from './app.js';

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
  // A new datasource in device custody keeps the field for "Test
  // connection" only: the typed password is used for the test and never
  // sent with Create.
  const syncCustody = () => {
    const device = custodyRadios.some((r) => r.checked && r.value === 'device');
    if (devicePw) {
      devicePw.dataset.testOnly = device ? '1' : '';
      let note = devicePw.querySelector('.test-only');
      if (device && !note) {
        note = document.createElement('p');
        note.className = 'help test-only';
        note.textContent = 'Device custody: this password is used only to test the connection from this form; it is never stored. Each device enters it when it unlocks the datasource.';
        devicePw.append(note);
      }
      if (note) note.hidden = !device;
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

  // collect reads the form into the body of a create or update, or of a
  // test before saving (forTest: the device password of a device-custody
  // datasource included). It returns {error} for a field it cannot read.
  function collect(forTest) {
    const body = {};
    const settings = {};
    const secrets = {};
    for (const input of settingInputs) {
      const name = input.dataset.key.slice('settings.'.length);
      const v = valueOf(input);
      if (v && v.__error) return { error: { field: input.dataset.key, message: v.__error } };
      if (editing) {
        if (JSON.stringify(v ?? null) === initial.get(input)) continue;
        settings[name] = v === undefined ? null : v; // null: back to the default
      } else if (v !== undefined) {
        settings[name] = v;
      }
    }
    for (const input of form.querySelectorAll('[data-secret]')) {
      if (input.disabled) continue; // stored and not replaced, or not for this custody
      if (!forTest && devicePw && devicePw.dataset.testOnly === '1' && devicePw.contains(input)) continue;
      const v = valueOf(input);
      if (v === undefined) continue;
      if (v.__error) return { error: { field: input.dataset.key, message: v.__error } };
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
    return { body };
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const got = collect(false);
    if (got.error) return showError(form, status, got.error);
    const body = got.body;
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
      let r;
      if (editing) {
        test.disabled = true;
        setStatus(testStatus, 'Testing the connection with the saved settings…');
        r = await api('POST', `/api/datasources/${encodeURIComponent(form.dataset.id)}/test`);
      } else {
        // Before saving: the settings as typed, nothing stored.
        clearErrors(form);
        const got = collect(true);
        if (got.error) return showError(form, testStatus, got.error);
        test.disabled = true;
        setStatus(testStatus, 'Testing the connection with these settings (nothing is saved)…');
        r = await api('POST', '/api/datasources/test', got.body);
      }
      test.disabled = false;
      if (r.ok) {
        setStatus(testStatus, 'Connection works.', 'ok');
      } else if (r.error.code === 'device_locked') {
        setStatus(testStatus, 'Unlock this datasource on this device (run a query in the workspace) to test it.', 'error');
      } else {
        // A refused setting is shown next to its field, as when saving.
        showError(form, testStatus, r.error);
      }
    });
  }
}
