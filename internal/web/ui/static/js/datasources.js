import { wireDeletes } from './app.js';

const list = document.getElementById('datasource-list');
if (list) {
  wireDeletes(list, (id) => `/api/datasources/${encodeURIComponent(id)}`,
    (name) => `Delete the datasource “${name}”? Its sealed secrets are deleted with it.`,
    document.getElementById('list-status'));
}
