// Unit tests of the pure functions of static/js/charts.js: ticks, series
// and number reading. Run with `node --test internal/web/ui/jstest/`.
// Dates are read in UTC, whatever the machine's zone.
process.env.TZ = 'UTC';

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { guessViz, niceTicks, timeTicks, seriesOf, toNumber, numberFormat } from '../static/js/charts.js';

// close compares tick lists within floating-point noise.
function close(got, want) {
  assert.equal(got.length, want.length, `ticks ${got}, want ${want}`);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-9, `ticks ${got}, want ${want}`));
}

test('niceTicks picks round steps covering the range', () => {
  const cases = [
    { lo: 0, hi: 10, n: 5, want: [0, 2, 4, 6, 8, 10] },
    { lo: 0, hi: 1, n: 5, want: [0, 0.2, 0.4, 0.6, 0.8, 1] },
    { lo: 0.5, hi: 97, n: 5, want: [0, 20, 40, 60, 80, 100] },
    { lo: -3, hi: 7, n: 5, want: [-4, -2, 0, 2, 4, 6, 8] },
    { lo: -0.3, hi: 0.3, n: 4, want: [-0.4, -0.2, 0, 0.2, 0.4] },
    { lo: 0, hi: 1000, n: 4, want: [0, 250, 500, 750, 1000] },
    { lo: 1e6, hi: 5e6, n: 5, want: [1e6, 2e6, 3e6, 4e6, 5e6] },
  ];
  for (const c of cases) close(niceTicks(c.lo, c.hi, c.n), c.want);
});

test('niceTicks widens an empty range around its value', () => {
  close(niceTicks(5, 5), [0, 2, 4, 6, 8, 10]);
  close(niceTicks(0, 0), [-1, -0.5, 0, 0.5, 1]);
  close(niceTicks(-2, -2), [-4, -3, -2, -1, 0]);
});

test('niceTicks: zero is exactly zero, and the ends are covered', () => {
  for (const [lo, hi] of [[-0.7, 0.9], [-13, 29], [-1e-3, 4e-3], [3, 1234567]]) {
    const ticks = niceTicks(lo, hi);
    assert.ok(ticks[0] <= lo && ticks[ticks.length - 1] >= hi, `${ticks} do not cover [${lo}, ${hi}]`);
    if (lo < 0) assert.ok(ticks.some((t) => Object.is(t, 0)), `${ticks} has no exact 0`);
    const step = ticks[1] - ticks[0];
    const mant = step / 10 ** Math.floor(Math.log10(step));
    assert.ok([1, 2, 2.5, 5].some((m) => Math.abs(mant - m) < 1e-9), `step ${step} is not round`);
  }
});

const iso = (ts) => ts.map((t) => new Date(t).toISOString());

test('timeTicks: minutes round to the step', () => {
  const lo = Date.UTC(2024, 0, 1, 0, 7);
  const { ticks, label } = timeTicks(lo, lo + 3600e3, 6);
  assert.deepEqual(iso(ticks), ['2024-01-01T00:15:00.000Z', '2024-01-01T00:30:00.000Z', '2024-01-01T00:45:00.000Z', '2024-01-01T01:00:00.000Z']);
  assert.equal(typeof label(ticks[0]), 'string');
});

test('timeTicks: months start on the first', () => {
  const { ticks } = timeTicks(Date.UTC(2024, 0, 15), Date.UTC(2024, 5, 15), 10);
  assert.deepEqual(iso(ticks), ['2024-01-15T00:00:00.000Z', '2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z',
    '2024-04-01T00:00:00.000Z', '2024-05-01T00:00:00.000Z', '2024-06-01T00:00:00.000Z']);
});

test('timeTicks: years step by twelve months', () => {
  const { ticks } = timeTicks(Date.UTC(2020, 5, 1), Date.UTC(2024, 5, 1), 10);
  assert.deepEqual(iso(ticks), ['2020-06-01T00:00:00.000Z', '2021-06-01T00:00:00.000Z', '2022-06-01T00:00:00.000Z',
    '2023-06-01T00:00:00.000Z', '2024-06-01T00:00:00.000Z']);
});

test('timeTicks: stays within the range and within maxTicks steps', () => {
  const lo = Date.UTC(2024, 2, 3, 10, 0);
  for (const [span, max] of [[10 * 60e3, 5], [6 * 3600e3, 8], [3 * 86400e3, 4], [40 * 86400e3, 7]]) {
    const { ticks } = timeTicks(lo, lo + span, max);
    assert.ok(ticks.length > 0, `no ticks for span ${span}`);
    assert.ok(ticks.every((t) => t >= lo && t <= lo + span), `${iso(ticks)} leave the range`);
    assert.ok(ticks.length <= max + 1, `${ticks.length} ticks for at most ${max} steps`);
  }
});

const cols = (...names) => names.map((name) => ({ name }));

test('seriesOf: one series per y column, values read as numbers', () => {
  const got = seriesOf({ x: 'day', y: ['a', 'b'] }, cols('day', 'a', 'b'), [['d1', 1, '2'], ['d2', 3, null], ['d1', 4, '5']]);
  assert.deepEqual(got.xs, ['d1', 'd2']);
  // A repeated x keeps its first place; its last row wins.
  assert.deepEqual(got.series, [{ name: 'a', values: [4, 3] }, { name: 'b', values: [5, NaN] }]);
});

test('seriesOf: one series per value of the series column', () => {
  const got = seriesOf({ x: 'day', y: ['n'], series: 'region' }, cols('day', 'region', 'n'),
    [['d1', 'eu', 1], ['d1', 'us', '2'], ['d2', 'us', 5], ['d3', null, 7]]);
  assert.deepEqual(got.xs, ['d1', 'd2', 'd3']);
  assert.deepEqual(got.series, [
    { name: 'eu', values: [1, NaN, NaN] },
    { name: 'us', values: [2, 5, NaN] },
    { name: '∅', values: [NaN, NaN, 7] },
  ]);
});

test('seriesOf: null and object x values are keys of their own', () => {
  const got = seriesOf({ x: 'k', y: ['v'] }, cols('k', 'v'), [[null, 1], [{ a: 1 }, 2], [{ a: 1 }, 3], ['∅', 4]]);
  assert.deepEqual(got.xs, [null, { a: 1 }]);
  // '∅' the string and null share a key: the later row wins.
  assert.deepEqual(got.series, [{ name: 'v', values: [4, 3] }]);
});

test('seriesOf: a missing column is an error naming it', () => {
  assert.throws(() => seriesOf({ x: 'nope', y: ['a'] }, cols('a'), []), /“nope” is not in the result/);
  assert.throws(() => seriesOf({ x: 'a', y: ['b', 'c'] }, cols('a', 'b'), []), /“c” is not in the result/);
  assert.throws(() => seriesOf({ x: 'a', y: ['b'], series: 's' }, cols('a', 'b'), []), /“s” is not in the result/);
});

test('toNumber reads numbers, numeric strings and booleans', () => {
  const cases = [[3, 3], ['42', 42], [' 1.5 ', 1.5], ['12345678901234567890', 12345678901234567890],
    [true, 1], [false, 0], ['', NaN], ['  ', NaN], ['x', NaN], [null, NaN], [undefined, NaN], [{}, NaN]];
  for (const [v, want] of cases) assert.ok(Object.is(toNumber(v), want), `toNumber(${JSON.stringify(v)}) = ${toNumber(v)}, want ${want}`);
});

test('numberFormat: a dash for no value, the unit after the number', () => {
  const f = numberFormat('integer', 'ms');
  assert.equal(f(1234.4), new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 }).format(1234) + ' ms');
  for (const v of [null, undefined, NaN]) assert.equal(f(v), '–');
  assert.equal(numberFormat('percent')(0.5), new Intl.NumberFormat(undefined, { style: 'percent' }).format(0.5));
  assert.equal(numberFormat('unknown')(1.23456), new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 }).format(1.23456));
});

test('guessViz: a date on x with a line, numbers on y, a text column as series', () => {
  assert.deepEqual(guessViz([{ name: 'day', type: 'date' }, { name: 'n', type: 'int8' }, { name: 'region', type: 'text' }], [['2024-03-01', 3, 'eu']]),
    { type: 'line', x: 'day', y: ['n'], series: 'region' });
  assert.deepEqual(guessViz([{ name: 'at', type: 'timestamptz' }, { name: 'a', type: 'numeric' }, { name: 'b', type: 'float8' }], [['2024-03-01T10:00:00Z', '1', 2]]),
    { type: 'line', x: 'at', y: ['a', 'b'] });
  assert.deepEqual(guessViz([{ name: 'name', type: 'text' }, { name: 'a', type: 'numeric' }], [['x', '1']]), { type: 'bar', x: 'name', y: ['a'] });
  assert.deepEqual(guessViz([{ name: 'count', type: 'int8' }], [[5]]), { type: 'number', y: ['count'] });
  // No type (an expression in SQLite): the first row's values say it.
  assert.deepEqual(guessViz([{ name: 'd', type: '' }, { name: 'v', type: '' }], [['2024-03-01', 1.5]]), { type: 'line', x: 'd', y: ['v'] });
  assert.deepEqual(guessViz([{ name: 'a', type: 'text' }, { name: 'b', type: 'text' }], [['x', 'y']]), { type: 'table', x: 'a', y: [] });
});
