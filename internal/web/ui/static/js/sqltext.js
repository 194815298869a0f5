// SQL text as the workspace needs it, with no page behind it (node's test
// runner loads it, see internal/web/ui/jstest): a lexer that knows each
// dialect's quotes and comments, the statement splitter, and the
// statement under the cursor. Nothing here parses SQL beyond its tokens.
//
// Dialects are named like the datasource kinds: "postgres", "mysql",
// "sqlite" (anything else lexes like standard SQL).

/**
 * tokenize returns the tokens of text: {type, from, to}, where type is
 * "space", "comment", "string", "ident" (a quoted identifier), "word",
 * "number", "param" ($1) or "punct" (one character). The tokens cover text
 * without gap; an unterminated string or comment runs to the end.
 */
export function tokenize(text, dialect) {
  const out = [];
  const n = text.length;
  const my = dialect === 'mysql';
  const pg = dialect === 'postgres';
  const lite = dialect === 'sqlite';
  let i = 0;
  const push = (type, from) => out.push({ type, from, to: i });
  // quoted reads a quoted run from i (at its opening quote) to just after
  // its close: a doubled close quote stays inside, and so does a
  // backslash-escaped character when backslash is set.
  const quoted = (close, backslash) => {
    i++;
    while (i < n) {
      const c = text[i];
      if (backslash && c === '\\') { i += 2; continue; }
      if (c === close) {
        if (text[i + 1] === close && close !== ']') { i += 2; continue; }
        i++;
        return;
      }
      i++;
    }
    i = n;
  };
  while (i < n) {
    const from = i;
    const c = text[i];
    const d = text[i + 1];
    if (/\s/.test(c)) {
      while (i < n && /\s/.test(text[i])) i++;
      push('space', from);
    } else if ((c === '-' && d === '-') || (my && c === '#')) {
      while (i < n && text[i] !== '\n') i++;
      push('comment', from);
    } else if (c === '/' && d === '*') {
      // PostgreSQL nests block comments; the others end at the first */.
      let depth = 0;
      while (i < n) {
        if (text[i] === '/' && text[i + 1] === '*') { depth++; i += 2; continue; }
        if (text[i] === '*' && text[i + 1] === '/') {
          i += 2;
          depth = pg ? depth - 1 : 0;
          if (depth === 0) break;
          continue;
        }
        i++;
      }
      push('comment', from);
    } else if (c === "'") {
      quoted("'", my);
      push('string', from);
    } else if (c === '"') {
      quoted('"', my);
      push(my ? 'string' : 'ident', from);
    } else if (c === '`' && (my || lite)) {
      quoted('`', false);
      push('ident', from);
    } else if (c === '[' && lite) {
      quoted(']', false);
      push('ident', from);
    } else if (c === '$' && pg && dollarTag(text, i) !== null) {
      const tag = dollarTag(text, i);
      const end = text.indexOf(tag, i + tag.length);
      i = end < 0 ? n : end + tag.length;
      push('string', from);
    } else if (c === '$' && /[0-9]/.test(d || '')) {
      i++;
      while (i < n && /[0-9]/.test(text[i])) i++;
      push('param', from);
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(d || ''))) {
      while (i < n && /[0-9A-Za-z_.]/.test(text[i])) i++;
      push('number', from);
    } else if (isWordStart(c)) {
      // E'…' (PostgreSQL) and X'…', N'…' prefixes make one string.
      while (i < n && isWordPart(text[i])) i++;
      const w = text.slice(from, i);
      if (text[i] === "'" && /^[EeXxBbNn]$/.test(w)) {
        quoted("'", my || (pg && /^[Ee]$/.test(w)));
        push('string', from);
      } else push('word', from);
    } else {
      i++;
      push('punct', from);
    }
  }
  return out;
}

function isWordStart(c) {
  return /[A-Za-z_]/.test(c) || c.charCodeAt(0) > 127;
}

function isWordPart(c) {
  return /[A-Za-z0-9_$]/.test(c) || c.charCodeAt(0) > 127;
}

// dollarTag returns the dollar-quote tag that starts at i ("$$", "$fn$"),
// or null when $ starts no tag there ($1 is a parameter).
function dollarTag(text, i) {
  const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(text.slice(i, i + 66));
  return m ? m[0] : null;
}

/**
 * splitStatements returns the statements of text as {from, to, end}
 * ranges: from..to is the statement without surrounding space and
 * without its semicolon, end is just past its semicolon (or to). A piece
 * that holds only space and comments is no statement.
 */
export function splitStatements(text, dialect) {
  const out = [];
  let start = null; // first non-space token of the current piece
  let last = null; // last non-space token
  let code = false; // the piece has more than comments
  for (const t of tokenize(text, dialect)) {
    if (t.type === 'punct' && text[t.from] === ';') {
      if (code) out.push({ from: start, to: last, end: t.to });
      start = last = null;
      code = false;
      continue;
    }
    if (t.type === 'space') continue;
    if (start === null) start = t.from;
    last = t.to;
    if (t.type !== 'comment') code = true;
  }
  if (code) out.push({ from: start, to: last, end: last });
  return out;
}

/**
 * statementAt returns the statement of text under pos (a range of
 * splitStatements): the one pos is in or right after (its semicolon
 * included), else the one before pos, else the first after it; null when
 * text has none.
 */
export function statementAt(text, pos, dialect) {
  const all = splitStatements(text, dialect);
  let before = null;
  for (const s of all) {
    if (pos >= s.from && pos <= s.end) return s;
    if (s.end <= pos) before = s;
  }
  return before || all[0] || null;
}
