// The single sign-on setting. The client secret is write-only: a stored
// one shows as a placeholder, and saving without "Replace" keeps it.
import { api, clearErrors, setStatus, showError } from './app.js';

const form = document.getElementById('sso-form');
const $ = (x) => document.getElementById(x);
const secret = $('sso-secret');
const replace = $('sso-secret-replace');
const status = $('form-status');

const pairs = (m) => Object.entries(m || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
function parsePairs(text, field) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.lastIndexOf(':');
    if (i <= 0) throw Object.assign(new Error(`Write one per line as “provider group: value”.`), { field });
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

function fill(st) {
  $('sso-enabled').checked = st.enabled;
  $('sso-callback').value = st.callback_url;
  $('sso-issuer').value = st.issuer || '';
  $('sso-client-id').value = st.client_id || '';
  $('sso-domains').value = (st.allowed_domains || []).join('\n');
  $('sso-claim').value = st.groups_claim || 'groups';
  $('sso-roles').value = pairs(st.role_map);
  $('sso-default-role').value = st.default_role || 'viewer';
  $('sso-groups').value = pairs(st.group_map);
  $('sso-local').checked = st.local_login;
  secret.value = '';
  if (st.client_secret_configured) {
    secret.disabled = true;
    secret.placeholder = 'Encrypted on the server side';
    replace.hidden = false;
  } else {
    secret.disabled = false;
    secret.placeholder = '';
    replace.hidden = true;
  }
}

fill(JSON.parse(form.dataset.settings));
replace.addEventListener('click', () => {
  secret.disabled = false;
  secret.placeholder = 'New client secret';
  secret.focus();
});

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  let body;
  try {
    body = {
      enabled: $('sso-enabled').checked, issuer: $('sso-issuer').value.trim(), client_id: $('sso-client-id').value.trim(),
      allowed_domains: $('sso-domains').value.split('\n').map((d) => d.trim()).filter(Boolean),
      groups_claim: $('sso-claim').value.trim(), role_map: parsePairs($('sso-roles').value, 'role_map'),
      default_role: $('sso-default-role').value, group_map: parsePairs($('sso-groups').value, 'group_map'),
      local_login: $('sso-local').checked,
    };
  } catch (e) {
    return showError(form, status, { field: e.field, message: e.message, code: 'invalid' });
  }
  if (!secret.disabled && secret.value) body.client_secret = secret.value;
  const r = await api('PUT', '/api/settings/sso', body);
  secret.value = '';
  if (!r.ok) return showError(form, status, r.error);
  fill(r.data);
  setStatus(status, r.data.enabled ? 'Saved: single sign-on is on.' : 'Saved: single sign-on is off.', 'ok');
});
