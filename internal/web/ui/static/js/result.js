// The result area of a page that runs queries: a Table view (grid.js)
// and a Chart view (chartview.js) of the same streamed rows, behind two
// tabs. renderResult is the one call a page makes; the runner (stream.js)
// feeds what it returns.
import { ChartView } from './chartview.js';
import { Grid } from './grid.js';

function tab(id, label, controls) {
  const b = document.createElement('button');
  b.type = 'button';
  b.id = id;
  b.textContent = label;
  b.setAttribute('role', 'tab');
  b.setAttribute('aria-controls', controls);
  return b;
}

/** Result is a grid and a chart of one streamed result. */
export class Result {
  constructor(container, opts = {}) {
    this.container = container;
    this.tabs = document.createElement('div');
    this.tabs.className = 'result-tabs';
    this.tabs.setAttribute('role', 'tablist');
    this.tabs.setAttribute('aria-label', 'Result view');
    this.tableTab = tab('tab-table', 'Table', 'result-table');
    this.chartTab = tab('tab-chart', 'Chart', 'chart-view');
    this.tabs.append(this.tableTab, this.chartTab);
    const gridHost = document.createElement('div');
    gridHost.id = 'result-table';
    gridHost.setAttribute('role', 'tabpanel');
    gridHost.setAttribute('aria-labelledby', 'tab-table');
    container.replaceChildren(this.tabs, gridHost);
    this.grid = new Grid(gridHost);
    this.gridHost = gridHost;
    this.chart = new ChartView(container, this.grid, opts);
    this.tableTab.addEventListener('click', () => this.show('table'));
    this.chartTab.addEventListener('click', () => this.show('chart'));
    this.tabs.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        ev.preventDefault();
        this.show(this.view === 'table' ? 'chart' : 'table');
        (this.view === 'table' ? this.tableTab : this.chartTab).focus();
      }
    });
    this.show('table');
    this.hidden = true;
  }

  /** show switches between the table and the chart. */
  show(view) {
    this.view = view;
    const table = view === 'table';
    this.tableTab.setAttribute('aria-selected', String(table));
    this.chartTab.setAttribute('aria-selected', String(!table));
    this.tableTab.tabIndex = table ? 0 : -1;
    this.chartTab.tabIndex = table ? -1 : 0;
    this.gridHost.hidden = !table;
    this.chart.hidden = table;
    if (table) this.grid.render(true);
    else this.chart.draw();
  }

  set hidden(on) {
    this.tabs.hidden = on;
    this.gridHost.hidden = on || this.view !== 'table';
    this.chart.hidden = on || this.view !== 'chart';
    this.grid.hidden = false;
  }

  get rows() { return this.grid.rows; }

  reset() { this.grid.reset(); this.chart.setColumns([]); }

  setColumns(cols) {
    this.grid.setColumns(cols);
    this.chart.setColumns(cols);
  }

  push(row) { this.grid.push(row); }

  flush() { this.grid.flush(); }

  done(d) {
    this.grid.done(d);
    if (this.view === 'chart') this.chart.draw();
  }
}

/**
 * renderResult puts the result area (tabs, grid, chart) in container and
 * returns it for the runner to feed (setColumns, push, flush, done).
 * opts.saveSource, when given, offers "Save as a saved query and add it
 * to a dashboard" from the chart.
 */
export function renderResult(container, opts) {
  return new Result(container, opts);
}
