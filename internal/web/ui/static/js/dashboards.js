// The dashboard list: create (then go on to add panels), import a JSON
// export, delete.
import { api, clearErrors, errorText, setStatus, showError, wireDeletes } from './app.js';

const $ = (x) => document.getElementById(x);
const list = $('dashboard-list');
if (list) {
  wireDeletes(list, (id) => `/api/dashboards/${encodeURIComponent(id)}`,
    (name) => `Delete the dashboard “${name}”? Its saved queries stay.`, $('list-status'));
}
const form = $('dashboard-form');
form?.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  const r = await api('POST', '/api/dashboards', { name: form.elements.name.value.trim(), definition: { inputs: [], panels: [] } });
  if (!r.ok) return showError(form, $('form-status'), r.error);
  location.assign(`/dashboards/${encodeURIComponent(r.data.id)}/edit`);
});
const file = $('import-file');
file?.addEventListener('change', async () => {
  const f = file.files[0];
  if (!f) return;
  file.value = '';
  let doc;
  try { doc = JSON.parse(await f.text()); } catch { return setStatus($('form-status'), 'That file is not JSON.', 'error'); }
  const r = await api('POST', '/api/dashboards/import', doc);
  if (!r.ok) return setStatus($('form-status'), errorText(r.error), 'error');
  location.assign(`/dashboards/${encodeURIComponent(r.data.id)}`);
});
