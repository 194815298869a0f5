import { api, setStatus, errorText } from './app.js';

const form = document.getElementById('login-form');
const status = document.getElementById('form-status');
form?.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  setStatus(status, 'Logging in…');
  const r = await api('POST', '/api/login', {
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
    remember: form.elements.remember.checked,
  });
  if (!r.ok) {
    form.elements.password.value = '';
    setStatus(status, errorText(r.error), 'error');
    form.elements.password.focus();
    return;
  }
  // data-next is a same-site path the server checked (safeNext).
  const next = form.dataset.next || '/datasources';
  location.assign(next.startsWith('/') && !next.startsWith('//') ? next : '/datasources');
});
