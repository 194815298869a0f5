import { api, clearErrors, errorText, setStatus, showError, wireDeletes } from './app.js';

const list = document.getElementById('user-list');
const listStatus = document.getElementById('list-status');
wireDeletes(list, (id) => `/api/users/${encodeURIComponent(id)}`, (name) => `Delete the user “${name}”?`, listStatus);

list.addEventListener('change', async (ev) => {
  const sel = ev.target.closest('[data-role-for]');
  if (!sel) return;
  const r = await api('PATCH', `/api/users/${encodeURIComponent(sel.dataset.roleFor)}`, { role: sel.value });
  if (!r.ok) {
    setStatus(listStatus, errorText(r.error), 'error');
    return;
  }
  setStatus(listStatus, `Role changed to ${r.data.role}; the user signs in again to use it.`, 'ok');
});

list.addEventListener('click', async (ev) => {
  const btn = ev.target.closest('[data-signout]');
  if (!btn) return;
  if (!confirm(`Sign “${btn.dataset.name}” out of every browser?`)) return;
  const r = await api('DELETE', `/api/users/${encodeURIComponent(btn.dataset.signout)}/sessions`);
  if (!r.ok) return setStatus(listStatus, errorText(r.error), 'error');
  setStatus(listStatus, `${btn.dataset.name} is signed out everywhere.`, 'ok');
});

const form = document.getElementById('user-form');
const status = document.getElementById('form-status');
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  const r = await api('POST', '/api/users', {
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
    role: form.elements.role.value,
  });
  if (!r.ok) {
    showError(form, status, r.error);
    return;
  }
  location.reload();
});
