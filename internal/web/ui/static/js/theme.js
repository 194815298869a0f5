// The colour scheme of every page: the browser's preference
// (prefers-color-scheme), unless the "Dark mode" toggle chose otherwise,
// which this browser's localStorage remembers (a choice equal to the
// browser's preference is forgotten, so the page follows it again).
const KEY = 'querygate.theme';
const root = document.documentElement;
const media = matchMedia('(prefers-color-scheme: dark)');

function stored() {
  try { return localStorage.getItem(KEY); } catch { return null; }
}

function isDark() {
  const s = stored();
  return s === 'dark' || (s !== 'light' && media.matches);
}

function apply() {
  const s = stored();
  if (s === 'dark' || s === 'light') root.dataset.theme = s;
  else delete root.dataset.theme;
  document.getElementById('theme-toggle')?.setAttribute('aria-pressed', String(isDark()));
}

document.getElementById('theme-toggle')?.addEventListener('click', (ev) => {
  const dark = !isDark();
  try {
    if (dark === media.matches) localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, dark ? 'dark' : 'light');
    apply();
  } catch {
    // Storage off: this page only.
    root.dataset.theme = dark ? 'dark' : 'light';
    ev.currentTarget.setAttribute('aria-pressed', String(dark));
  }
});
media.addEventListener('change', apply);
apply();
