// The schema browser of the workspace: schemas, then tables and views,
// then columns with their types and keys, read from
// GET /api/datasources/{id}/schema (nothing of it is stored, here or on
// the server). A click on a name inserts it at the editor's cursor; each
// table offers its starter query.
import { api } from './app.js';
import { unlockDevice } from './stream.js';
import { qualifiedName, quoteIdent, schemaIndex, starterQuery } from './sqlcomplete.js';

const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children);
  return e;
};

/**
 * SchemaTree fills root (a list) from the schema API. onInsert(text)
 * inserts a name, onStarter(text) opens a starter query, onIndex(index)
 * gets the schema index for completion after each load.
 */
export class SchemaTree {
  constructor({ root, filter, status, refresh, datasourceID, dialect, onInsert, onStarter, onIndex }) {
    Object.assign(this, { root, filter, status, datasourceID, dialect, onInsert, onStarter, onIndex });
    this.index = schemaIndex(null, dialect);
    refresh.addEventListener('click', () => this.load());
    filter.addEventListener('input', () => this.draw());
    root.addEventListener('click', (ev) => this.click(ev));
  }

  setStatus(text, kind = '') {
    this.status.textContent = text;
    this.status.className = `status${kind ? ` is-${kind}` : ''}`;
    this.status.hidden = !text;
  }

  async load() {
    this.setStatus('Loading the schema…');
    this.root.setAttribute('aria-busy', 'true');
    const path = `/api/datasources/${encodeURIComponent(this.datasourceID)}/schema`;
    const r = await api('GET', path);
    this.root.removeAttribute('aria-busy');
    this.locked = !r.ok && r.error.code === 'device_locked';
    if (this.locked) {
      // No password prompt unasked: the tree offers the unlock, and a
      // query that unlocks the datasource reloads the tree (reloadIfLocked).
      const b = el('button', { type: 'button', class: 'secondary', id: 'schema-unlock' }, 'Unlock');
      b.addEventListener('click', async () => { if (await unlockDevice(this.datasourceID)) this.load(); });
      this.root.replaceChildren(el('li', { class: 'tree-empty' }, b));
      this.setStatus('This datasource is locked on this device: unlock it to see its tables.');
      return;
    }
    if (!r.ok) {
      this.root.replaceChildren();
      this.setStatus(`The schema could not be read: ${r.error.message}`, 'error');
      return;
    }
    this.index = schemaIndex(r.data, this.dialect);
    this.truncated = !!r.data.truncated;
    this.onIndex?.(this.index);
    this.draw();
  }

  /** reloadIfLocked reads the schema again when it was locked. */
  reloadIfLocked() {
    if (this.locked) this.load();
  }

  // matches reports whether a name holds the filter text.
  matches(name) {
    const q = this.filter.value.trim().toLowerCase();
    return !q || name.toLowerCase().includes(q);
  }

  draw() {
    const q = this.filter.value.trim();
    const frag = document.createDocumentFragment();
    let tables = 0;
    for (const s of this.index.schemas) {
      const items = [];
      for (const t of s.tables || []) {
        const cols = (t.columns || []).filter((c) => this.matches(c.name));
        if (!this.matches(t.name) && !this.matches(s.name) && !cols.length) continue;
        items.push(this.tableItem(s.name, t, q && !this.matches(t.name) ? cols : null));
        tables++;
      }
      if (!items.length && q) continue;
      const group = el('ul', { role: 'group', class: 'tree-group' }, ...items);
      if (!items.length) group.append(el('li', { class: 'tree-empty' }, 'No tables.'));
      frag.append(el('li', { role: 'treeitem', class: 'tree-schema', 'aria-expanded': 'true' },
        el('span', { class: 'tree-schema-name' }, s.name), group));
    }
    this.root.replaceChildren(frag);
    if (!this.index.schemas.length) this.setStatus('This datasource has no tables (or none this user may see).');
    else if (!tables && q) this.setStatus(`Nothing matches “${q}”.`);
    else this.setStatus(this.truncated ? 'The schema is large: only part of it is shown.' : '');
  }

  // tableItem is one table's row; cols, when given, are shown at once
  // (the columns that matched the filter).
  tableItem(schema, t, cols) {
    const name = qualifiedName(this.index, schema, t.name);
    const toggle = el('button', { type: 'button', class: 'tree-toggle', 'aria-expanded': cols ? 'true' : 'false', title: 'Show the columns' });
    toggle.append(el('span', { class: 'sr-only' }, `Columns of ${t.name}`));
    const row = el('div', { class: 'tree-row' },
      toggle,
      el('button', { type: 'button', class: 'tree-name', 'data-insert': name, title: `Insert ${name}` }, t.name),
      t.kind && t.kind !== 'table' ? el('span', { class: 'tree-kind' }, t.kind) : '',
      el('button', { type: 'button', class: 'tree-starter link', 'data-starter': starterQuery(this.index, schema, t.name), title: starterQuery(this.index, schema, t.name) }, 'Query'));
    const li = el('li', { role: 'treeitem', class: 'tree-table', 'aria-expanded': cols ? 'true' : 'false' }, row);
    li.dataset.schema = schema;
    li.dataset.table = t.name;
    if (cols) li.append(this.columnList(cols));
    return li;
  }

  columnList(cols) {
    const ul = el('ul', { role: 'group', class: 'tree-columns' });
    for (const c of cols) {
      const keys = [c.primary_key ? 'PK' : '', c.references ? `→ ${c.references}` : ''].filter(Boolean).join(' ');
      ul.append(el('li', { role: 'treeitem', class: 'tree-column' },
        el('button', { type: 'button', class: 'tree-name', 'data-insert': quoteIdent(c.name, this.dialect), title: `Insert ${c.name}` }, c.name),
        el('span', { class: 'tree-type' }, `${c.type || ''}${c.nullable === false ? ' not null' : ''}`),
        keys ? el('span', { class: 'tree-key' }, keys) : ''));
    }
    if (!cols.length) ul.append(el('li', { class: 'tree-empty' }, 'No columns.'));
    return ul;
  }

  click(ev) {
    const b = ev.target.closest('button');
    if (!b) return;
    if (b.dataset.insert) this.onInsert(b.dataset.insert);
    else if (b.dataset.starter) this.onStarter(b.dataset.starter);
    else if (b.classList.contains('tree-toggle')) {
      const li = b.closest('li');
      const open = li.getAttribute('aria-expanded') !== 'true';
      li.setAttribute('aria-expanded', String(open));
      b.setAttribute('aria-expanded', String(open));
      li.querySelector(':scope > .tree-columns')?.remove();
      if (open) {
        const s = this.index.schemas.find((x) => x.name === li.dataset.schema);
        const t = s && (s.tables || []).find((x) => x.name === li.dataset.table);
        li.append(this.columnList((t && t.columns) || []));
      }
    }
  }
}
