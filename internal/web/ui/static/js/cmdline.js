// The pure part of command.js: splitting a Redis command line into its
// words, with no page or DOM behind it, so that node's test runner can
// load it (see internal/web/ui/jstest).

// splitWords splits a Redis command line into its words: spaces separate
// words; "double quotes" allow \" \\ \n \t escapes; 'single quotes' are
// literal. An unterminated quote throws an UnclosedQuote.
export function splitWords(line) {
  const out = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '"' || ch === "'") {
      const q = ch;
      inWord = true;
      i++;
      for (;; i++) {
        if (i >= line.length) throw new UnclosedQuote('A quote is not closed.');
        const c = line[i];
        if (c === q) break;
        if (q === '"' && c === '\\' && i + 1 < line.length) {
          const n = line[++i];
          cur += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        } else cur += c;
      }
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** UnclosedQuote is a command line whose quote is not closed. */
export class UnclosedQuote extends Error {}
