import { test } from 'node:test';
import assert from 'node:assert/strict';
import { complete, quoteIdent, schemaIndex, starterQuery, qualifiedName, tableRefs } from '../static/js/sqlcomplete.js';

const answer = {
  schemas: [
    { name: 'public', tables: [
      { name: 'users', kind: 'table', columns: [{ name: 'id', type: 'int8', primary_key: true }, { name: 'email', type: 'text' }] },
      { name: 'orders', kind: 'table', columns: [{ name: 'id', type: 'int8' }, { name: 'user_id', type: 'int8', references: 'users.id' }, { name: 'Total', type: 'numeric' }] },
    ] },
    { name: 'sales', tables: [{ name: 'leads', kind: 'view', columns: [{ name: 'lead_id', type: 'int4' }] }] },
  ],
  truncated: false,
};
const pg = schemaIndex(answer, 'postgres');

// labels returns the labels offered at the | of src.
function labels(src, index = pg) {
  const pos = src.indexOf('|');
  const r = complete(src.replace('|', ''), pos, index);
  return r && r.options.map((o) => o.label);
}

test('aliases from FROM and JOIN', () => {
  assert.deepEqual(labels('SELECT u.| FROM users u'), ['id', 'email']);
  assert.deepEqual(labels('SELECT u.|\nFROM users AS u JOIN orders o ON o.user_id = u.id'), ['id', 'email']);
  assert.deepEqual(labels('SELECT o.| FROM users u JOIN orders o ON o.user_id = u.id'), ['id', 'user_id', 'Total']);
  assert.deepEqual(labels('SELECT l.| FROM users u, sales.leads l WHERE true'), ['lead_id']);
  assert.deepEqual(labels('SELECT x.em| FROM public.users x'), ['id', 'email']);
  assert.deepEqual(labels('UPDATE users u SET email = u.|'), ['id', 'email']);
});

test('qualified names', () => {
  assert.deepEqual(labels('SELECT users.|'), ['id', 'email']);
  assert.deepEqual(labels('SELECT * FROM sales.|'), ['leads']);
  assert.deepEqual(labels('SELECT sales.leads.| FROM sales.leads'), ['lead_id']);
  assert.deepEqual(labels('SELECT * FROM public.|'), ['users', 'orders']);
});

test('plain words: columns in scope, aliases, tables, schemas, keywords', () => {
  const got = labels('SELECT | FROM orders o');
  for (const want of ['id', 'user_id', 'Total', 'o', 'users', 'orders', 'sales', 'sales.leads', 'SELECT', 'WHERE']) assert.ok(got.includes(want), want);
  assert.ok(!got.includes('email'), 'a column of a table not in the statement');
  const r = complete('SELECT * FROM us', 16, pg);
  assert.equal(r.from, 14);
});

test('the statement under the cursor only', () => {
  const got = labels('SELECT * FROM users u; SELECT u.| FROM orders');
  assert.deepEqual(got, []);
});

test('no completion inside strings and comments', () => {
  assert.equal(labels("SELECT 'u.|'"), null);
  assert.equal(labels('SELECT 1 -- u.|'), null);
});

test('quoting per dialect', () => {
  const opt = complete('SELECT o.', 9, schemaIndex(answer, 'postgres'));
  assert.equal(opt, complete('SELECT o.', 9, pg) && opt); // stable
  const total = complete('SELECT o.| FROM orders o'.replace('|', ''), 9, pg).options.find((o) => o.label === 'Total');
  assert.equal(total.apply, '"Total"');
  assert.equal(quoteIdent('Total', 'mysql'), 'Total');
  assert.equal(quoteIdent('order', 'mysql'), '`order`');
  assert.equal(quoteIdent('a`b', 'mysql'), '`a``b`');
  assert.equal(quoteIdent('my table', 'sqlite'), '"my table"');
  assert.equal(quoteIdent('a"b', 'postgres'), '"a""b"');
  assert.equal(quoteIdent('users', 'postgres'), 'users');
});

test('starter queries and tree names', () => {
  assert.equal(starterQuery(pg, 'public', 'users'), 'SELECT * FROM users LIMIT 100');
  assert.equal(starterQuery(pg, 'sales', 'leads'), 'SELECT * FROM sales.leads LIMIT 100');
  const my = schemaIndex({ schemas: [{ name: 'shop', tables: [{ name: 'Order Lines', columns: [] }] }] }, 'mysql');
  assert.equal(starterQuery(my, 'shop', 'Order Lines'), 'SELECT * FROM `Order Lines` LIMIT 100');
  const two = schemaIndex({ schemas: [{ name: 'main', tables: [] }, { name: 'aux', tables: [] }] }, 'sqlite');
  assert.equal(qualifiedName(two, 'aux', 'x y'), 'aux."x y"');
  assert.equal(qualifiedName(two, 'main', 't'), 't');
});

test('tableRefs', () => {
  assert.deepEqual(tableRefs('SELECT * FROM a.b AS x, c JOIN "D e" y ON true LEFT JOIN f WHERE z', 'postgres'),
    [{ path: ['a', 'b'], alias: 'x' }, { path: ['c'], alias: null }, { path: ['D e'], alias: 'y' }, { path: ['f'], alias: null }]);
  assert.deepEqual(tableRefs('INSERT INTO t (a) SELECT a FROM s', 'postgres'), [{ path: ['t'], alias: null }, { path: ['s'], alias: null }]);
  assert.deepEqual(tableRefs('SELECT 1', 'postgres'), []);
});
