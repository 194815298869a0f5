// Unit tests of static/js/format.js, the one rule by which the workspace
// grid and dashboard tables show values, and of doneText (stream.js).
// Run with `node --test internal/web/ui/jstest/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { comparator, copyText, expanded, formatValue, groupNumber, hexPreview, isLong, numberSeparators, plainText } from '../static/js/format.js';

test('groupNumber groups in the locale without losing a digit', () => {
  assert.equal(groupNumber('1234567.5', 'en-US'), '1,234,567.5');
  assert.equal(groupNumber('-1234', 'en-US'), '-1,234');
  assert.equal(groupNumber('123', 'en-US'), '123');
  assert.equal(groupNumber('12345678901234567890.000000001', 'en-US'), '12,345,678,901,234,567,890.000000001');
  const de = numberSeparators('de-DE');
  assert.equal(groupNumber('1234567.25', 'de-DE'), `1${de.group}234${de.group}567${de.decimal}25`);
  for (const s of ['NaN', 'Infinity', '1e+300', '-Infinity', 'abc']) assert.equal(groupNumber(s, 'en-US'), s);
});

test('formatValue: NULL apart from text, numbers grouped, bytes in hex, dates as sent', () => {
  assert.deepEqual(formatValue(null, 'text'), { text: 'NULL', cls: 'null' });
  assert.deepEqual(formatValue('NULL', 'text'), { text: 'NULL', cls: '' }, 'the text NULL is not a NULL');
  assert.deepEqual(formatValue(1234.5, 'float8', 'en-US'), { text: '1,234.5', cls: 'num' });
  assert.deepEqual(formatValue(0.1, 'float4', 'en-US'), { text: '0.1', cls: 'num' });
  assert.deepEqual(formatValue('1234.50', 'numeric', 'en-US'), { text: '1,234.50', cls: 'num' });
  assert.deepEqual(formatValue('AP8=', 'bytea'), { text: '\\x00ff', cls: 'bytes' });
  assert.deepEqual(formatValue('2024-03-01', 'date'), { text: '2024-03-01', cls: '' });
  assert.deepEqual(formatValue('2024-03-01T10:00:00', 'timestamp'), { text: '2024-03-01T10:00:00', cls: '' });
  assert.deepEqual(formatValue({ a: [1] }, 'jsonb'), { text: '{"a":[1]}', cls: 'json' });
  assert.deepEqual(formatValue(true, 'bool'), { text: 'true', cls: 'bool' });
});

test('hexPreview cuts long values and says their length', () => {
  const b64 = Buffer.from(new Uint8Array(40).fill(0xab)).toString('base64');
  assert.equal(hexPreview(b64), `\\x${'ab'.repeat(16)}… (40 bytes)`);
});

test('copyText writes TSV, CSV and JSON of the values as they came', () => {
  const names = ['id', 'note', 'n'];
  const rows = [[1, 'a,b "c"', null], [2, 'tab\there', '1234.50']];
  assert.equal(copyText('tsv', names, rows, { header: true }), 'id\tnote\tn\n1\ta,b "c"\t\n2\ttab here\t1234.50');
  assert.equal(copyText('csv', names, rows, { header: true }), 'id,note,n\r\n1,"a,b ""c""",\r\n2,tab\there,1234.50');
  assert.equal(copyText('json', names, rows), '[{"id":1,"note":"a,b \\"c\\"","n":null},{"id":2,"note":"tab\\there","n":"1234.50"}]');
  assert.equal(copyText('json', names, [rows[0]], { single: true }), '{"id":1,"note":"a,b \\"c\\"","n":null}');
  assert.equal(copyText('json', ['n'], [[null]], { single: true }), 'null');
  assert.equal(plainText(null), '');
  assert.equal(plainText({ a: 1 }), '{"a":1}');
});

test('comparator: numbers by value, NULLs last, dates in time order', () => {
  const num = comparator('numeric');
  assert.deepEqual(['10', null, '9.5', '-1'].sort(num), ['-1', '9.5', '10', null]);
  assert.deepEqual([3, null, 1].sort(comparator('int4')), [1, 3, null]);
  assert.deepEqual(['2024-03-01', '2023-12-31', '2024-01-15'].sort(comparator('date')), ['2023-12-31', '2024-01-15', '2024-03-01']);
});

test('long values and JSON open in the panel, indented', () => {
  assert.ok(isLong({ a: 1 }, '{"a":1}'));
  assert.ok(isLong('x'.repeat(61), 'x'.repeat(61)));
  assert.ok(!isLong('short', 'short'));
  assert.equal(expanded('{"a":[1,2]}'), '{\n  "a": [\n    1,\n    2\n  ]\n}');
  assert.equal(expanded(null), 'NULL');
});
