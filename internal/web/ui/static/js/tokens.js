import { api, clearErrors, showError, setStatus, wireDeletes } from './app.js';

const list = document.getElementById('token-list');
const listWrap = document.getElementById('token-list-wrap');
const empty = document.getElementById('token-empty');
wireDeletes(list, (id) => `/api/tokens/${encodeURIComponent(id)}`,
  (name) => `Revoke the token “${name}”? Scripts using it stop working.`, document.getElementById('list-status'));

/** when writes a time as the page does (fmtTime): "2026-01-02 15:04 UTC", or "never". */
function when(t) {
  if (!t) return 'never';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return 'never';
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** addRow puts a token just made at the end of the list (oldest first, as the page lists them) (never its value). */
function addRow(t) {
  const tr = document.createElement('tr');
  tr.dataset.id = t.id;
  for (const text of [t.name, when(t.created_at), when(t.expires_at), when(t.last_used_at)]) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  const td = document.createElement('td');
  td.className = 'actions';
  const btn = document.createElement('button');
  btn.type = 'button';
  btn.className = 'link danger';
  btn.dataset.delete = t.id;
  btn.dataset.name = t.name;
  btn.textContent = 'Revoke';
  td.append(btn);
  tr.append(td);
  list.tBodies[0].append(tr);
  listWrap.hidden = false;
  empty.hidden = true;
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
  addRow(r.data);
  setStatus(status, 'Token created and added to the list. Copy it now: it is not shown again.', 'ok');
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
