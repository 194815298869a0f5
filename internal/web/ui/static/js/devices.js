import { wireDeletes } from './app.js';

const list = document.getElementById('device-list');
if (list) {
  wireDeletes(list, (id) => `/api/devices/${encodeURIComponent(id)}`,
    (name) => `Forget “${name}” on this device? The password must be entered again there.`,
    document.getElementById('list-status'));
}
