import { InputError } from './stream.js';

// splitCommand splits a Redis command line into its words: spaces separate
// words; "double quotes" allow \" \\ \n \t escapes; 'single quotes' are
// literal. An unterminated quote is an error.
export function splitCommand(line) {
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
        if (i >= line.length) throw new SplitError('A quote is not closed.');
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

/** SplitError is a command line that cannot be split: shown like any input error. */
export class SplitError extends InputError {}
