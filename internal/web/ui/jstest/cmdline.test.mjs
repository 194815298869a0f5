// Unit tests of the Redis command splitting (static/js/cmdline.js, behind
// splitCommand in command.js). Run with `node --test internal/web/ui/jstest/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { splitWords, UnclosedQuote } from '../static/js/cmdline.js';

test('splitWords splits on white space and reads quotes', () => {
  const cases = [
    ['GET key', ['GET', 'key']],
    ['  SET   k  v ', ['SET', 'k', 'v']],
    ['SET\tk\nv', ['SET', 'k', 'v']],
    ['', []],
    ['   ', []],
    ['SET k "a b"', ['SET', 'k', 'a b']],
    ['SET k ""', ['SET', 'k', '']],
    ["SET k ''", ['SET', 'k', '']],
    ['SET k "a\\"b\\\\c\\nd\\te"', ['SET', 'k', 'a"b\\c\nd\te']],
    ['SET k "\\x"', ['SET', 'k', 'x']],
    ["SET k 'a \\n \"b\"'", ['SET', 'k', 'a \\n "b"']],
    ['SET k a"b c"d', ['SET', 'k', 'ab cd']],
    ["SET k 'it''s'", ['SET', 'k', 'its']],
    ['HSET h "f 1" 1 \'f 2\' 2', ['HSET', 'h', 'f 1', '1', 'f 2', '2']],
    ['SET k é✓', ['SET', 'k', 'é✓']],
  ];
  for (const [line, want] of cases) assert.deepEqual(splitWords(line), want, `splitWords(${JSON.stringify(line)})`);
});

test('splitWords refuses an unclosed quote', () => {
  for (const line of ['SET k "abc', "SET k 'abc", 'SET k "abc\\"', 'SET k "abc\\', '"']) {
    assert.throws(() => splitWords(line), (e) => e instanceof UnclosedQuote && e.message === 'A quote is not closed.',
      `splitWords(${JSON.stringify(line)})`);
  }
});
