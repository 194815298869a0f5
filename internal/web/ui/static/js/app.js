// Shared helpers of every page: JSON calls to the API, field errors,
// status messages and the logout button. No secret is ever stored by these
// scripts: not in localStorage, not in the DOM after a request. What the
// pages keep in the browser is kept per user (userstore.js) and removed
// at logout.

import { errorText } from './errtext.js';
import { dropUnowned, forgetUser, signedIn } from './userstore.js';

/** api sends a JSON request to the gateway and returns {ok, status, data, error}. */
export async function api(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, error: { code: 'network', message: 'The gateway could not be reached.' } };
  }
  let data = null;
  if (resp.status !== 204) {
    try { data = await resp.json(); } catch { data = null; }
  }
  if (!resp.ok) {
    const error = (data && data.error) || { code: 'http_' + resp.status, message: 'The request failed.' };
    if (resp.status === 401 && !path.startsWith('/api/login') && !path.startsWith('/api/setup')) {
      location.assign('/login');
    }
    return { ok: false, status: resp.status, error };
  }
  return { ok: true, status: resp.status, data };
}

/** setStatus writes a message into a status element; kind is "", "ok" or "error". */
export function setStatus(el, text, kind = '') {
  if (!el) return;
  el.textContent = text;
  el.classList.toggle('is-error', kind === 'error');
  el.classList.toggle('is-ok', kind === 'ok');
}

export { errorText };

/** clearErrors empties every field error of a form. */
export function clearErrors(root) {
  for (const el of root.querySelectorAll('[data-error-for]')) el.textContent = '';
  for (const el of root.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/**
 * showError puts an API error next to its field (error.field names it, like
 * "settings.host"), or else into the status element. It returns true when
 * a field took it.
 */
export function showError(root, status, error) {
  if (error.field) {
    const slot = root.querySelector(`[data-error-for="${CSS.escape(error.field)}"]`);
    if (slot) {
      slot.textContent = errorText(error);
      const input = root.querySelector(`[data-key="${CSS.escape(error.field)}"], [name="${CSS.escape(error.field)}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        if (!input.disabled) input.focus();
      }
      setStatus(status, 'Please correct the marked field.', 'error');
      return true;
    }
  }
  setStatus(status, errorText(error), 'error');
  return false;
}

/**
 * wireDeletes makes every [data-delete] button call DELETE on pathFor(id)
 * after a confirmation, then removes its [data-item] (or table row).
 */
export function wireDeletes(root, pathFor, question, status) {
  root.addEventListener('click', async (ev) => {
    const btn = ev.target.closest('[data-delete]');
    if (!btn) return;
    if (!confirm(question(btn.dataset.name || ''))) return;
    btn.disabled = true;
    const r = await api('DELETE', pathFor(btn.dataset.delete));
    if (!r.ok) {
      btn.disabled = false;
      setStatus(status, errorText(r.error), 'error');
      return;
    }
    (btn.closest('[data-item]') || btn.closest('tr'))?.remove();
    setStatus(status, 'Done.', 'ok');
  });
}

// eachStorage calls fn with localStorage and sessionStorage (a browser
// may refuse either).
function eachStorage(fn) {
  for (const name of ['localStorage', 'sessionStorage']) {
    try { fn(window[name]); } catch { /* storage off */ }
  }
}

function wireLogout() {
  const form = document.getElementById('logout-form');
  if (!form) return;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    // What this user kept in this browser goes first, whatever the
    // gateway answers: the next person on this browser sees none of it.
    const user = document.body.dataset.user;
    if (user) eachStorage((s) => forgetUser(s, user));
    await api('POST', '/api/logout');
    location.assign('/login');
  });
}

// Keys of earlier versions were shared by every user of a browser.
eachStorage(dropUnowned);
// A page of a signed-in user loaded: they are signed in (again).
if (document.body.dataset.user) eachStorage((s) => signedIn(s, document.body.dataset.user));
wireLogout();
