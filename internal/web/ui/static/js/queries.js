// The saved-query list: delete, export as JSON (a download made in the
// browser from the API's answer) and import a JSON file.
import { api, errorText, setStatus, wireDeletes } from './app.js';

const $ = (x) => document.getElementById(x);
const list = $('query-list');
if (list) {
  wireDeletes(list, (id) => `/api/queries/${encodeURIComponent(id)}`,
    (name) => `Delete the saved query “${name}” and all its versions?`, $('list-status'));
}

const filter = $('filter-datasource');
filter?.addEventListener('change', () => $('filter-form').requestSubmit());

const status = $('transfer-status');
const exportBtn = $('export-queries');
exportBtn?.addEventListener('click', async () => {
  const r = await api('GET', `/api/queries/export?datasource_id=${encodeURIComponent(exportBtn.dataset.datasource)}`);
  if (!r.ok) return setStatus(status, errorText(r.error), 'error');
  const url = URL.createObjectURL(new Blob([JSON.stringify(r.data, null, 2) + '\n'], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `${(r.data.datasource?.name || 'queries').replace(/[^\w.-]+/g, '_')}.queries.json`;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 60000);
  setStatus(status, `Exported ${r.data.queries.length} queries as ${a.download}.`, 'ok');
});

const file = $('import-file');
file?.addEventListener('change', async () => {
  const f = file.files[0];
  if (!f) return;
  let doc;
  try {
    doc = JSON.parse(await f.text());
  } catch {
    setStatus(status, 'That file is not JSON.', 'error');
    return;
  }
  file.value = '';
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    setStatus(status, 'That file is not a saved-query export.', 'error');
    return;
  }
  doc.datasource_id = file.dataset.datasource;
  doc.replace = $('import-replace').checked;
  const r = await api('POST', '/api/queries/import', doc);
  if (!r.ok) return setStatus(status, errorText(r.error), 'error');
  const names = (xs) => (xs || []).map((q) => `“${q.name}”`).join(', ');
  const { created = [], updated = [], conflicts = [] } = r.data;
  let msg = `Imported ${created.length} new and ${updated.length} updated.`;
  if (conflicts.length) msg += ` Not imported, the names exist: ${names(conflicts)} (tick “Replace” to save them as new versions).`;
  setStatus(status, msg, conflicts.length ? 'error' : 'ok');
  if (created.length || updated.length) setTimeout(() => location.reload(), conflicts.length ? 4000 : 800);
});
