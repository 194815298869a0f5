import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitStatements, statementAt, tokenize } from '../static/js/sqltext.js';

const texts = (src, dialect) => splitStatements(src, dialect).map((s) => src.slice(s.from, s.to));

// Table of [dialect, text, statements]: each row one quoting or comment
// rule; the semicolons inside quotes and comments never split.
const cases = [
  ['postgres', '', []],
  ['postgres', '  ;; ; ', []],
  ['postgres', 'SELECT 1', ['SELECT 1']],
  ['postgres', 'SELECT 1;SELECT 2;', ['SELECT 1', 'SELECT 2']],
  ['postgres', ' SELECT 1 ;\n\n SELECT 2 ', ['SELECT 1', 'SELECT 2']],
  ['postgres', "SELECT ';' AS a; SELECT 'it''s;'", ["SELECT ';' AS a", "SELECT 'it''s;'"]],
  ['postgres', 'SELECT 1 AS ";x"; SELECT 2', ['SELECT 1 AS ";x"', 'SELECT 2']],
  ['postgres', 'SELECT 1 -- a; comment\n; SELECT 2', ['SELECT 1 -- a; comment', 'SELECT 2']],
  ['postgres', 'SELECT /* a; /* nested; */ still; */ 1; SELECT 2', ['SELECT /* a; /* nested; */ still; */ 1', 'SELECT 2']],
  ['postgres', 'SELECT $$a;b$$; SELECT $fn$ x; $$ y; $fn$; SELECT $1', ['SELECT $$a;b$$', 'SELECT $fn$ x; $$ y; $fn$', 'SELECT $1']],
  ['postgres', "SELECT E'a\\';b'; SELECT 2", ["SELECT E'a\\';b'", 'SELECT 2']],
  ['postgres', "SELECT 'a\\'; SELECT 2", ["SELECT 'a\\'", 'SELECT 2']],
  ['postgres', '-- only a comment;\n; /* and this */ ;', []],
  ['postgres', "SELECT 'unterminated; SELECT 2", ["SELECT 'unterminated; SELECT 2"]],
  ['postgres', 'SELECT 1 /* unterminated; SELECT 2', ['SELECT 1 /* unterminated; SELECT 2']],
  ['mysql', "SELECT 'a\\';b'; SELECT 2", ["SELECT 'a\\';b'", 'SELECT 2']],
  ['mysql', 'SELECT "x;y"; SELECT `a;b` FROM t', ['SELECT "x;y"', 'SELECT `a;b` FROM t']],
  ['mysql', 'SELECT 1 # c; c\n; SELECT 2', ['SELECT 1 # c; c', 'SELECT 2']],
  ['mysql', 'SELECT /* a /* b; */ 1; SELECT 2', ['SELECT /* a /* b; */ 1', 'SELECT 2']],
  ['mysql', 'SELECT $$a; SELECT 2', ['SELECT $$a', 'SELECT 2']],
  ['sqlite', 'SELECT [a;b], `c;d`, "e;f" FROM t; SELECT 2', ['SELECT [a;b], `c;d`, "e;f" FROM t', 'SELECT 2']],
  ['sqlite', "SELECT X'00;'; SELECT 2", ["SELECT X'00;'", 'SELECT 2']],
  ['postgres', 'SELECT 1 # 2; SELECT 3', ['SELECT 1 # 2', 'SELECT 3']],
  ['postgres', 'SELECT "a""b;" ; SELECT 2', ['SELECT "a""b;"', 'SELECT 2']],
  ['postgres', 'SELECT ✓; SELECT 😀', ['SELECT ✓', 'SELECT 😀']],
];

test('splitStatements', async (t) => {
  for (const [dialect, src, want] of cases) {
    await t.test(`${dialect}: ${JSON.stringify(src)}`, () => {
      assert.deepEqual(texts(src, dialect), want);
    });
  }
});

test('tokens cover the text without gap', () => {
  for (const [dialect, src] of cases) {
    let at = 0;
    for (const tok of tokenize(src, dialect)) {
      assert.equal(tok.from, at, `${src}: gap at ${at}`);
      assert.ok(tok.to > tok.from, `${src}: empty token at ${at}`);
      at = tok.to;
    }
    assert.equal(at, src.length);
  }
});

// A fuzz-like property over random mixes of the pieces above: the
// splitter never throws, its statements are in order, inside the text,
// trimmed, and joining them with ";" splits back to themselves.
test('splitStatements on random texts', () => {
  const pieces = ["'", '"', '`', '$$', '$a$', '--', '#', '/*', '*/', ';', '\n', ' ', 'SELECT', '1', 'E', '\\', '[', ']', 'x', '😀'];
  let seed = 1;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (const dialect of ['postgres', 'mysql', 'sqlite']) {
    for (let i = 0; i < 3000; i++) {
      let src = '';
      for (let j = rand(12); j >= 0; j--) src += pieces[rand(pieces.length)];
      const stmts = splitStatements(src, dialect);
      let last = 0;
      for (const s of stmts) {
        assert.ok(s.from >= last && s.from < s.to && s.to <= s.end && s.end <= src.length, `${dialect} ${JSON.stringify(src)}`);
        assert.equal(src.slice(s.from, s.to).trim(), src.slice(s.from, s.to));
        last = s.end;
      }
    }
  }
});

test('statementAt: the statement under the cursor', () => {
  const src = 'SELECT 1;\nSELECT 2;  \n\n-- c\nSELECT 3';
  const at = (pos) => { const s = statementAt(src, pos, 'postgres'); return s && src.slice(s.from, s.to); };
  assert.equal(at(0), 'SELECT 1');
  assert.equal(at(4), 'SELECT 1');
  assert.equal(at(9), 'SELECT 1'); // right after its semicolon
  assert.equal(at(10), 'SELECT 2');
  assert.equal(at(20), 'SELECT 2'); // in the space after it
  assert.equal(at(src.length), '-- c\nSELECT 3');
  assert.equal(statementAt('  ', 1, 'postgres'), null);
  assert.equal(statementAt('  SELECT 1', 0, 'postgres').from, 2);
});
