// The result of one statement as the workspace shows it. renderResult is
// the one call the workspace makes to draw a result, so that the result
// area (a grid, a chart) can change behind it without touching the
// editor, the tabs or the runs. Results live in memory while they are on
// screen and are never stored.
import { cell } from './stream.js';

/** MAX_SHOWN is how many rows of one result are kept for display. */
export const MAX_SHOWN = 5000;

/**
 * renderResult draws result into container (an element it owns):
 * result is {columns, rows, count, done}, where columns are the stream's
 * columns, rows the first MAX_SHOWN rows, count every row received and
 * done the stream's closing message once it came. It may be called again
 * as more rows arrive.
 */
export function renderResult(container, result) {
  let table = container.querySelector('table');
  if (!table) {
    const wrap = document.createElement('div');
    wrap.className = 'table-wrap results';
    wrap.tabIndex = 0;
    wrap.setAttribute('aria-label', 'Result');
    table = document.createElement('table');
    table.className = 'grid';
    table.append(document.createElement('thead'), document.createElement('tbody'));
    wrap.append(table);
    container.append(wrap);
    table.dataset.drawn = '0';
  }
  if (result.columns && !table.tHead.rows.length) {
    const tr = document.createElement('tr');
    for (const c of result.columns) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = c.name;
      if (c.type) th.title = c.type;
      tr.append(th);
    }
    table.tHead.append(tr);
  }
  // Rows are only ever appended: draw the ones not drawn yet.
  let drawn = Number(table.dataset.drawn);
  const frag = document.createDocumentFragment();
  for (; drawn < result.rows.length; drawn++) {
    const tr = document.createElement('tr');
    for (const v of result.rows[drawn]) tr.append(cell(v));
    frag.append(tr);
  }
  table.tBodies[0].append(frag);
  table.dataset.drawn = String(drawn);
  table.hidden = !result.columns;
}
