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

// Reset a user's password: the new one is typed in a dialog, sent once,
// and cleared from the page.
const resetDialog = document.getElementById('reset-dialog');
const resetForm = document.getElementById('reset-form');
const resetStatus = document.getElementById('reset-status');
let resetID = '';
let resetName = '';
list.addEventListener('click', (ev) => {
  const btn = ev.target.closest('[data-reset]');
  if (!btn) return;
  resetID = btn.dataset.reset;
  resetName = btn.dataset.name || '';
  document.getElementById('reset-name').textContent = resetName;
  resetForm.reset();
  clearErrors(resetForm);
  setStatus(resetStatus, '');
  resetDialog.showModal();
  resetForm.elements.password.focus();
});
document.getElementById('reset-cancel').addEventListener('click', () => {
  resetForm.reset();
  resetDialog.close();
});
resetForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(resetForm);
  const r = await api('POST', `/api/users/${encodeURIComponent(resetID)}/password`, { password: resetForm.elements.password.value });
  if (!r.ok) {
    showError(resetForm, resetStatus, r.error);
    return;
  }
  resetForm.reset();
  resetDialog.close();
  setStatus(listStatus, `The password of ${resetName} is changed; they are signed out everywhere and their API tokens are revoked.`, 'ok');
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
