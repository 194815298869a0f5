// The Access section of a datasource's edit page: its grants to users and
// groups, replaced as a whole with PUT /api/datasources/{id}/grants.
import { api, errorText, setStatus } from './app.js';

const section = document.getElementById('access');
if (section) {
  const $ = (x) => document.getElementById(x);
  const body = $('grant-list').tBodies[0];
  const status = $('access-status');
  let seq = body.rows.length;

  const sync = () => { $('no-grants').hidden = body.rows.length > 0; };

  $('add-grant')?.addEventListener('click', () => {
    const row = $('grant-row').content.firstElementChild.cloneNode(true);
    const n = seq++;
    row.querySelectorAll('select').forEach((sel, i) => {
      sel.id = `grant-${n}-${sel.dataset.g}`;
      row.querySelectorAll('label')[i].htmlFor = sel.id;
    });
    row.querySelector('[data-g="level"]').value = 'run';
    body.append(row);
    sync();
    row.querySelector('select').focus();
  });
  body.addEventListener('click', (ev) => {
    if (!ev.target.closest('[data-remove-grant]')) return;
    ev.target.closest('tr').remove();
    sync();
  });
  $('access-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const grants = [];
    const seen = new Set();
    for (const row of body.rows) {
      const subject = row.querySelector('[data-g="subject"]').value;
      if (seen.has(subject)) return setStatus(status, 'Each user or group can have one grant: remove the repeated one.', 'error');
      seen.add(subject);
      const i = subject.indexOf(':');
      grants.push({ type: subject.slice(0, i), id: subject.slice(i + 1), level: row.querySelector('[data-g="level"]').value });
    }
    $('save-access').disabled = true;
    const r = await api('PUT', `/api/datasources/${encodeURIComponent(section.dataset.id)}/grants`, { grants });
    $('save-access').disabled = false;
    if (!r.ok) return setStatus(status, errorText(r.error), 'error');
    setStatus(status, grants.length ? `Saved: ${grants.length} grant${grants.length === 1 ? '' : 's'}.` : 'Saved: no one else has access.', 'ok');
  });
}
