import { api, clearErrors, showError, setStatus, wireDeletes } from './app.js';

const list = document.getElementById('token-list');
if (list) {
  wireDeletes(list, (id) => `/api/tokens/${encodeURIComponent(id)}`,
    (name) => `Revoke the token “${name}”? Scripts using it stop working.`, document.getElementById('list-status'));
}

const form = document.getElementById('token-form');
const status = document.getElementById('form-status');
const shown = document.getElementById('new-token');
const value = document.getElementById('new-token-value');
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  const days = Number.parseInt(form.elements.expires_in_days.value || '0', 10);
  const r = await api('POST', '/api/tokens', { name: form.elements.name.value.trim(), expires_in_days: Number.isNaN(days) ? -1 : days });
  if (!r.ok) {
    showError(form, status, r.error);
    return;
  }
  // Shown once: the value lives only in this input until the page is left.
  value.value = r.data.token;
  shown.hidden = false;
  value.focus();
  value.select();
  setStatus(status, 'Token created. Reload the page to see it in the list.', 'ok');
  form.reset();
});
document.getElementById('copy-token').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(value.value);
    setStatus(status, 'Copied.', 'ok');
  } catch {
    value.select();
    setStatus(status, 'Select the token and copy it.', '');
  }
});
