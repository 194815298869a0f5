// Groups: create, delete, and set the members of each.
import { api, clearErrors, errorText, setStatus, showError, wireDeletes } from './app.js';

const $ = (x) => document.getElementById(x);
const list = $('group-list');
if (list) {
  wireDeletes(list, (id) => `/api/groups/${encodeURIComponent(id)}`,
    (name) => `Delete the group “${name}”? Its grants end with it.`, $('list-status'));
  for (const form of list.querySelectorAll('form[data-group]')) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const ids = [...form.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value);
      const st = form.querySelector('.status');
      const r = await api('PUT', `/api/groups/${encodeURIComponent(form.dataset.group)}/members`, { user_ids: ids });
      if (!r.ok) return setStatus(st, errorText(r.error), 'error');
      setStatus(st, `Saved: ${ids.length} member${ids.length === 1 ? '' : 's'}.`, 'ok');
    });
  }
}

const form = $('group-form');
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  const r = await api('POST', '/api/groups', { name: form.elements.name.value.trim() });
  if (!r.ok) return showError(form, $('form-status'), r.error);
  location.reload();
});
