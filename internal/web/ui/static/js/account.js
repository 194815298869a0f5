// The account page: sessions (sign out one, or all), and the password.
import { api, clearErrors, errorText, setStatus, showError, wireDeletes } from './app.js';

const $ = (x) => document.getElementById(x);
const list = $('session-list');
wireDeletes(list, (id) => `/api/sessions/${encodeURIComponent(id)}`,
  (name) => `Sign out ${name || 'that browser'}?`, $('list-status'));
// Signing out this browser leaves the page.
list.addEventListener('click', (ev) => {
  const btn = ev.target.closest('[data-current]');
  if (btn) setTimeout(() => { if (!document.body.contains(btn)) location.assign('/login'); }, 300);
});

$('logout-everywhere').addEventListener('click', async () => {
  if (!confirm('Sign out every browser, this one included?')) return;
  const r = await api('POST', '/api/logout-everywhere');
  if (!r.ok) return setStatus($('list-status'), errorText(r.error), 'error');
  location.assign('/login');
});

const form = $('password-form');
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  const r = await api('POST', '/api/me/password', {
    current_password: form.elements.current_password.value, new_password: form.elements.new_password.value,
  });
  form.elements.current_password.value = '';
  if (!r.ok) {
    form.elements.new_password.value = '';
    return showError(form, $('form-status'), r.error);
  }
  form.reset();
  setStatus($('form-status'), 'Password changed. Your other browsers are signed out and your API tokens revoked.', 'ok');
  setTimeout(() => location.reload(), 1500);
});

// Linking single sign-on: the gateway starts the flow for this user and
// answers with the identity provider's address to go to.
const link = $('sso-link');
if (link) {
  link.addEventListener('click', async () => {
    link.disabled = true;
    const r = await api('POST', '/api/me/sso-link');
    if (!r.ok) {
      link.disabled = false;
      return setStatus($('sso-status'), errorText(r.error), 'error');
    }
    location.assign(r.data.url);
  });
}
