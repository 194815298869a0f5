// Charts drawn as SVG from rows in the browser: line, area, bar (grouped
// or stacked), pie, a single number with a comparison, and a table. No
// library: the few chart types here need axes with ticks that do not
// collide, thousands separators (Intl.NumberFormat), time axes in the
// viewer's time zone (Intl.DateTimeFormat), a palette that stays distinct
// for colour-blind readers (Okabe–Ito), and a legend when there is more
// than one series. Every text goes in with textContent: a value from a
// datasource can never become markup.

import { isNumericType, isTemporalType } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';

/** PALETTE is Okabe and Ito's colour-blind-safe palette. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.append(e);
  return e;
}

function text(parent, x, y, s, attrs = {}) {
  const t = el('text', { x, y, ...attrs }, parent);
  t.textContent = s;
  return t;
}

/** numberFormat returns a formatter for a viz's format and unit. */
export function numberFormat(format, unit) {
  const opts = {
    integer: { maximumFractionDigits: 0 },
    decimal: { minimumFractionDigits: 0, maximumFractionDigits: 2 },
    compact: { notation: 'compact', maximumFractionDigits: 1 },
    percent: { style: 'percent', maximumFractionDigits: 1 },
  }[format] || { maximumFractionDigits: 2 };
  const f = new Intl.NumberFormat(undefined, opts);
  return (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : f.format(v) + (unit ? ` ${unit}` : ''));
}

/** toNumber reads a value as a number (big integers and decimals arrive as strings). */
export function toNumber(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return NaN;
}

const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function toTime(v) {
  if (typeof v !== 'string' || !ISO.test(v)) return NaN;
  // A bare date is a calendar day: midnight in the viewer's zone.
  const t = v.length === 10 ? new Date(`${v}T00:00:00`) : new Date(v);
  return t.getTime();
}

/** niceTicks returns about n round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) {
    const d = Math.abs(lo) || 1;
    return niceTicks(lo - d, hi + d, n);
  }
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  if (out[out.length - 1] < hi) out.push(out[out.length - 1] + step);
  return out;
}

// timeTicks picks round instants for a time axis and a format for them.
export function timeTicks(lo, hi, maxTicks) {
  const span = hi - lo;
  const steps = [
    [60e3, { hour: '2-digit', minute: '2-digit' }], [5 * 60e3, { hour: '2-digit', minute: '2-digit' }],
    [15 * 60e3, { hour: '2-digit', minute: '2-digit' }], [3600e3, { hour: '2-digit', minute: '2-digit' }],
    [6 * 3600e3, { month: 'short', day: 'numeric', hour: '2-digit' }], [86400e3, { month: 'short', day: 'numeric' }],
    [7 * 86400e3, { month: 'short', day: 'numeric' }], [30 * 86400e3, { year: 'numeric', month: 'short' }],
    [365 * 86400e3, { year: 'numeric' }],
  ];
  const [step, fmt] = steps.find(([s]) => span / s <= maxTicks) || steps[steps.length - 1];
  const f = new Intl.DateTimeFormat(undefined, fmt);
  const ticks = [];
  const start = new Date(lo);
  if (step >= 86400e3) start.setHours(0, 0, 0, 0);
  else start.setMinutes(Math.ceil(start.getMinutes() / (step / 60e3)) * (step / 60e3), 0, 0);
  for (let t = start.getTime(); t <= hi && ticks.length < 200; ) {
    if (t >= lo) ticks.push(t);
    if (step >= 30 * 86400e3) {
      const d = new Date(t);
      d.setMonth(d.getMonth() + (step >= 365 * 86400e3 ? 12 : 1), 1);
      t = d.getTime();
    } else t += step;
  }
  return { ticks, label: (t) => f.format(new Date(t)) };
}

// edgeAnchor keeps a label near either end of the axis inside the chart.
function edgeAnchor(x, left, right) {
  if (x - left < 28) return 'start';
  if (right - x < 28) return 'end';
  return 'middle';
}

function column(columns, name) {
  const i = columns.findIndex((c) => c.name === name);
  return i;
}

/**
 * seriesOf turns rows into series: one per y column, or, with a series
 * column, one per distinct value of it (with one y column).
 */
export function seriesOf(viz, columns, rows) {
  const xi = column(columns, viz.x);
  const yis = (viz.y || []).map((n) => column(columns, n));
  if (xi < 0) throw new Error(`The column “${viz.x}” is not in the result.`);
  const missing = (viz.y || []).find((n, k) => yis[k] < 0);
  if (missing) throw new Error(`The column “${missing}” is not in the result.`);
  const xs = [];
  const xIndex = new Map();
  const keyOf = (v) => (v === null || v === undefined ? '∅' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  for (const r of rows) {
    const k = keyOf(r[xi]);
    if (!xIndex.has(k)) { xIndex.set(k, xs.length); xs.push(r[xi]); }
  }
  let series;
  if (viz.series) {
    const si = column(columns, viz.series);
    if (si < 0) throw new Error(`The column “${viz.series}” is not in the result.`);
    const by = new Map();
    for (const r of rows) {
      const name = keyOf(r[si]);
      if (!by.has(name)) by.set(name, new Array(xs.length).fill(NaN));
      by.get(name)[xIndex.get(keyOf(r[xi]))] = toNumber(r[yis[0]]);
    }
    series = [...by].map(([name, values]) => ({ name, values }));
  } else {
    series = yis.map((yi, k) => {
      const values = new Array(xs.length).fill(NaN);
      for (const r of rows) values[xIndex.get(keyOf(r[xi]))] = toNumber(r[yi]);
      return { name: viz.y[k], values };
    });
  }
  return { xs, series };
}

function legend(svg, names, x, y, width) {
  if (names.length < 2) return 0;
  let cx = x;
  let cy = y;
  const g = el('g', { class: 'legend' }, svg);
  names.forEach((n, i) => {
    const label = n.length > 24 ? `${n.slice(0, 23)}…` : n;
    const w = 18 + label.length * 6.5 + 14;
    if (cx + w > x + width && cx > x) { cx = x; cy += 16; }
    el('rect', { x: cx, y: cy - 9, width: 10, height: 10, fill: PALETTE[i % PALETTE.length] }, g);
    text(g, cx + 14, cy, label, { class: 'legend-label' });
    cx += w;
  });
  return cy - y + 18;
}

/** drawXY draws a line, area or bar chart into an SVG element. */
function drawXY(svg, viz, columns, rows, width, height) {
  const { xs, series } = seriesOf(viz, columns, rows);
  const fmt = numberFormat(viz.format, viz.unit);
  const times = xs.map(toTime);
  const isTime = viz.type !== 'bar' && xs.length > 0 && times.every((t) => !Number.isNaN(t));
  const legendH = legend(svg, series.map((s) => s.name), 8, 14, width - 16);
  const stacked = viz.stacked && (viz.type === 'bar' || viz.type === 'area');
  // The value range, stacked or not.
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < xs.length; i++) {
    let pos = 0;
    let neg = 0;
    for (const s of series) {
      const v = s.values[i];
      if (Number.isNaN(v)) continue;
      if (stacked) { if (v >= 0) pos += v; else neg += v; } else { hi = Math.max(hi, v); lo = Math.min(lo, v); }
    }
    if (stacked) { hi = Math.max(hi, pos); lo = Math.min(lo, neg); }
  }
  const yt = niceTicks(lo, hi, Math.max(2, Math.floor((height - legendH - 40) / 40)));
  const [y0, y1] = [yt[0], yt[yt.length - 1]];
  const labelW = Math.max(...yt.map((v) => fmt(v).length)) * 6.5 + 10;
  const m = { l: Math.min(labelW, width / 3), r: 12, t: 10 + legendH, b: 28 };
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b;
  if (pw < 20 || ph < 20) return;
  const sy = (v) => m.t + ph - ((v - y0) / (y1 - y0)) * ph;
  const axes = el('g', { class: 'axes' }, svg);
  for (const v of yt) {
    el('line', { x1: m.l, x2: m.l + pw, y1: sy(v), y2: sy(v), class: v === 0 ? 'zero' : 'grid' }, axes);
    text(axes, m.l - 6, sy(v) + 4, fmt(v), { 'text-anchor': 'end', class: 'tick' });
  }
  // The x axis: time, or categories.
  let sx;
  let band = 0;
  if (isTime) {
    const t0 = Math.min(...times);
    const t1 = Math.max(...times);
    const span = t1 - t0 || 1;
    sx = (i) => m.l + ((times[i] - t0) / span) * pw;
    const { ticks, label } = timeTicks(t0, t1 === t0 ? t0 + 1 : t1, Math.max(2, Math.floor(pw / 90)));
    let lastRight = -Infinity;
    for (const t of ticks) {
      const x = m.l + ((t - t0) / span) * pw;
      const s = label(t);
      const anchor = edgeAnchor(x, m.l, m.l + pw);
      const w = s.length * 6.5;
      const left = anchor === 'start' ? x : anchor === 'end' ? x - w : x - w / 2;
      el('line', { x1: x, x2: x, y1: m.t + ph, y2: m.t + ph + 4, class: 'grid' }, axes);
      if (left < lastRight + 6) continue; // it would touch the previous label
      text(axes, x, m.t + ph + 18, s, { 'text-anchor': anchor, class: 'tick' });
      lastRight = left + w;
    }
  } else {
    band = pw / Math.max(1, xs.length);
    sx = (i) => m.l + band * (i + 0.5);
    const labels = xs.map((v) => (v === null ? 'NULL' : String(v)));
    const widest = Math.min(20, Math.max(...labels.map((l) => l.length), 1)) * 6.5 + 8;
    const every = Math.max(1, Math.ceil(widest / band));
    labels.forEach((l, i) => {
      if (i % every) return;
      text(axes, sx(i), m.t + ph + 18, l.length > 20 ? `${l.slice(0, 19)}…` : l, { 'text-anchor': edgeAnchor(sx(i), m.l, m.l + pw), class: 'tick' });
    });
  }
  const plot = el('g', { class: 'plot' }, svg);
  // Hovering shows the values at the nearest x (draw() adds the tip).
  const nearest = (x) => {
    if (!isTime) return Math.max(0, Math.min(xs.length - 1, Math.floor((x - m.l) / band)));
    let best = 0;
    for (let i = 1; i < xs.length; i++) if (Math.abs(sx(i) - x) < Math.abs(sx(best) - x)) best = i;
    return best;
  };
  const xLabel = (i) => {
    const v = xs[i];
    if (v === null || v === undefined) return 'NULL';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  };
  svg.hover = {
    box: { l: m.l, t: m.t, w: pw, h: ph },
    at: (x) => {
      const i = nearest(x);
      return { x: sx(i), title: xLabel(i), lines: series.map((s2, k) => ({ name: s2.name, value: fmt(s2.values[i]), color: PALETTE[k % PALETTE.length] })) };
    },
  };
  if (viz.type === 'bar') {
    const groups = stacked ? 1 : series.length;
    const bw = Math.max(1, (band * 0.8) / groups);
    const base = new Array(xs.length).fill(0);
    const baseNeg = new Array(xs.length).fill(0);
    series.forEach((s, k) => {
      const g = el('g', { fill: PALETTE[k % PALETTE.length] }, plot);
      s.values.forEach((v, i) => {
        if (Number.isNaN(v)) return;
        let from = 0;
        if (stacked) { from = v >= 0 ? base[i] : baseNeg[i]; if (v >= 0) base[i] += v; else baseNeg[i] += v; }
        const x = m.l + band * i + band * 0.1 + (stacked ? 0 : k * bw);
        const [a, b] = [sy(from), sy(from + v)];
        const r = el('rect', { x, y: Math.min(a, b), width: stacked ? band * 0.8 : bw, height: Math.max(1, Math.abs(a - b)) }, g);
        el('title', {}, r).textContent = `${s.name}: ${fmt(v)}`;
      });
    });
    return;
  }
  const base = new Array(xs.length).fill(0);
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    const pts = [];
    s.values.forEach((v, i) => {
      if (Number.isNaN(v)) return;
      const from = stacked ? base[i] : 0;
      if (stacked) base[i] += v;
      pts.push([sx(i), sy(from + v), sy(from)]);
    });
    if (!pts.length) return;
    const line = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
    if (viz.type === 'area') {
      const back = pts.slice().reverse().map(([x, , y0b]) => `L${x.toFixed(1)},${y0b.toFixed(1)}`).join('');
      el('path', { d: `${line}${back}Z`, fill: color, 'fill-opacity': stacked ? 0.75 : 0.3, stroke: 'none' }, plot);
    }
    el('path', { d: line, fill: 'none', stroke: color, 'stroke-width': 2 }, plot);
    if (pts.length <= 60) {
      for (const [x, y] of pts) el('circle', { cx: x, cy: y, r: 2.5, fill: color }, plot);
    }
  });
}

function drawPie(svg, viz, columns, rows, width, height) {
  const li = column(columns, viz.x);
  const vi = column(columns, (viz.y || [])[0]);
  if (li < 0 || vi < 0) throw new Error('The label or value column is not in the result.');
  const fmt = numberFormat(viz.format, viz.unit);
  let slices = rows.map((r) => ({ name: r[li] === null ? 'NULL' : String(r[li]), v: toNumber(r[vi]) })).filter((s) => s.v > 0);
  slices.sort((a, b) => b.v - a.v);
  if (slices.length > 8) {
    const rest = slices.slice(7).reduce((a, s) => a + s.v, 0);
    slices = [...slices.slice(0, 7), { name: 'Other', v: rest }];
  }
  const total = slices.reduce((a, s) => a + s.v, 0);
  if (!total) return;
  const legendW = Math.min(220, width * 0.45);
  const r = Math.max(10, Math.min((width - legendW) / 2 - 10, height / 2 - 10));
  const cx = r + 10;
  const cy = height / 2;
  let a0 = -Math.PI / 2;
  const pct = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
  slices.forEach((s, i) => {
    const a1 = a0 + (s.v / total) * 2 * Math.PI;
    const large = a1 - a0 > Math.PI ? 1 : 0;
    const p = (a) => `${(cx + r * Math.cos(a)).toFixed(2)},${(cy + r * Math.sin(a)).toFixed(2)}`;
    const d = slices.length === 1 ? `M${cx - r},${cy}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0` : `M${cx},${cy}L${p(a0)}A${r},${r} 0 ${large},1 ${p(a1)}Z`;
    const path = el('path', { d, fill: PALETTE[i % PALETTE.length], stroke: '#fff', 'stroke-width': 1 }, svg);
    el('title', {}, path).textContent = `${s.name}: ${fmt(s.v)} (${pct.format(s.v / total)})`;
    const ly = 20 + i * 18;
    el('rect', { x: 2 * r + 30, y: ly - 9, width: 10, height: 10, fill: PALETTE[i % PALETTE.length] }, svg);
    const label = s.name.length > 22 ? `${s.name.slice(0, 21)}…` : s.name;
    text(svg, 2 * r + 44, ly, `${label} · ${pct.format(s.v / total)}`, { class: 'legend-label' });
    a0 = a1;
  });
}

/** drawNumber renders a single value (first row) and its change from the second row. */
export function drawNumber(box, viz, columns, rows) {
  const yi = viz.y && viz.y.length ? column(columns, viz.y[0]) : 0;
  if (yi < 0) throw new Error(`The column “${viz.y[0]}” is not in the result.`);
  const fmt = numberFormat(viz.format, viz.unit);
  box.replaceChildren();
  const big = document.createElement('div');
  big.className = 'big-number';
  const v = rows.length ? toNumber(rows[0][yi]) : NaN;
  big.textContent = rows.length ? (Number.isNaN(v) ? String(rows[0][yi]) : fmt(v)) : '–';
  box.append(big);
  if (viz.compare && rows.length > 1) {
    const prev = toNumber(rows[1][yi]);
    const c = document.createElement('div');
    c.className = 'compare';
    if (!Number.isNaN(prev) && !Number.isNaN(v)) {
      const d = v - prev;
      const pct = prev ? d / Math.abs(prev) : NaN;
      const sign = d > 0 ? '▲' : d < 0 ? '▼' : '■';
      c.classList.add(d > 0 ? 'up' : d < 0 ? 'down' : 'flat');
      const pf = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' });
      c.textContent = `${sign} ${fmt(Math.abs(d))}${Number.isNaN(pct) ? '' : ` (${pf.format(pct)})`} from ${fmt(prev)}`;
    }
    box.append(c);
  }
}

/**
 * draw renders rows into box as the viz says (a table needs cell(), given
 * by the caller). It returns the SVG element for charts, for export.
 */
export function draw(box, viz, columns, rows) {
  if (viz.type === 'number') { drawNumber(box, viz, columns, rows); return null; }
  const width = Math.max(200, box.clientWidth || 400);
  const height = Math.max(120, box.clientHeight || 240);
  const svg = el('svg', { xmlns: SVG, viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart' });
  const title = el('title', {}, svg);
  title.textContent = `${viz.type} chart`;
  if (viz.type === 'pie') drawPie(svg, viz, columns, rows, width, height);
  else drawXY(svg, viz, columns, rows, width, height);
  box.replaceChildren(svg);
  if (svg.hover) tooltip(box, svg, width);
  return svg;
}

// tooltip shows, while the pointer is over the plot, a guide line at the
// nearest x and a box with the x value and each series' value there.
function tooltip(box, svg, width) {
  const { box: b, at } = svg.hover;
  const guide = el('line', { y1: b.t, y2: b.t + b.h, x1: -10, x2: -10, class: 'hover-guide', visibility: 'hidden' }, svg);
  const area = el('rect', { x: b.l, y: b.t, width: b.w, height: b.h, fill: 'transparent', class: 'hover-area' }, svg);
  const tip = document.createElement('div');
  tip.className = 'chart-tip';
  tip.hidden = true;
  tip.setAttribute('role', 'status');
  box.append(tip);
  const hide = () => { tip.hidden = true; guide.setAttribute('visibility', 'hidden'); };
  area.addEventListener('pointermove', (ev) => {
    const r = svg.getBoundingClientRect();
    const x = ((ev.clientX - r.left) * width) / (r.width || width);
    const p = at(x);
    guide.setAttribute('x1', p.x);
    guide.setAttribute('x2', p.x);
    guide.setAttribute('visibility', 'visible');
    const head = document.createElement('strong');
    head.textContent = p.title;
    const rows = p.lines.map((l) => {
      const d = document.createElement('div');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = l.color;
      d.append(sw, `${l.name}: ${l.value}`);
      return d;
    });
    tip.replaceChildren(head, ...rows);
    tip.hidden = false;
    const px = (p.x * (r.width || width)) / width;
    const left = px + 12 + tip.offsetWidth > box.clientWidth ? px - 12 - tip.offsetWidth : px + 12;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, ev.clientY - r.top - tip.offsetHeight - 8)}px`;
  });
  area.addEventListener('pointerleave', hide);
}

/**
 * guessViz proposes a chart for a result from its column types (and the
 * first row where a type says nothing): a date or time column goes on x
 * with a line, else the first text column with bars; numeric columns go
 * on y; one numeric value in one row is a number.
 */
export function guessViz(columns, rows) {
  const first = rows[0] || [];
  const ISO_DATE = /^-?\d{4,}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
  const numeric = columns.map((c, i) => isNumericType(c.type) || (!c.type && typeof first[i] === 'number'));
  const temporal = columns.map((c, i) => (isTemporalType(c.type) && !/^time(tz)?$/.test(c.type)) || (!isNumericType(c.type) && typeof first[i] === 'string' && ISO_DATE.test(first[i])));
  const ys = columns.map((c, i) => i).filter((i) => numeric[i]);
  // One numeric value in one row (a count, a total): a number.
  if (rows.length === 1 && ys.length === 1 && columns.length === 1) return { type: 'number', y: [columns[ys[0]].name] };
  let xi = temporal.indexOf(true);
  let type = 'line';
  if (xi < 0) {
    xi = columns.findIndex((c, i) => !numeric[i]);
    type = 'bar';
  }
  if (xi < 0) xi = 0;
  const y = ys.filter((i) => i !== xi).slice(0, 4).map((i) => columns[i].name);
  const viz = { type: y.length ? type : 'table', x: columns[xi] ? columns[xi].name : '', y };
  // A date on x, one value and one text column: a series per text value.
  if (type === 'line' && y.length === 1) {
    const si = columns.findIndex((c, i) => i !== xi && !numeric[i] && !temporal[i]);
    if (si >= 0) viz.series = columns[si].name;
  }
  return viz;
}

/** svgText serialises a chart with its styles inlined, for an SVG or PNG export. */
export function svgText(svg) {
  const copy = svg.cloneNode(true);
  const style = document.createElementNS(SVG, 'style');
  style.textContent = 'text{font:11px system-ui,sans-serif;fill:#333}.tick{fill:#555}.grid{stroke:#e3e6eb}.zero{stroke:#888}';
  copy.prepend(style);
  const bg = document.createElementNS(SVG, 'rect');
  bg.setAttribute('width', '100%');
  bg.setAttribute('height', '100%');
  bg.setAttribute('fill', '#fff');
  copy.insertBefore(bg, style.nextSibling);
  return new XMLSerializer().serializeToString(copy);
}
