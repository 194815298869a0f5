import { api, clearErrors, setStatus, showError } from './app.js';

const form = document.getElementById('setup-form');
const status = document.getElementById('form-status');
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  setStatus(status, 'Creating the administrator…');
  const body = {
    token: form.elements.token.value.trim(),
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
  };
  const r = await api('POST', '/api/setup', body);
  if (!r.ok) {
    showError(form, status, r.error);
    return;
  }
  location.assign('/datasources');
});
