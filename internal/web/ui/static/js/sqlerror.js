// Where a datasource's error points in the editor, with no editor behind
// it (node's test runner loads it). The gateway's error may carry
// position (PostgreSQL: the 1-based character of the statement) or line
// (MySQL: the 1-based line; its message names the text "near '…'").

/**
 * errorRange returns the {from, to} range of stmt (the statement text as
 * sent) that error points at, or null when it points nowhere. Offsets are
 * JavaScript string indexes into stmt.
 */
export function errorRange(stmt, error) {
  if (!error || typeof stmt !== 'string') return null;
  if (error.position > 0) {
    // Characters, not UTF-16 units: walk by code point.
    let off = 0;
    for (let n = 1; n < error.position && off < stmt.length; n++) off += stmt.codePointAt(off) > 0xffff ? 2 : 1;
    if (off >= stmt.length) off = Math.max(0, stmt.length - 1);
    let to = off;
    while (to < stmt.length && /[\w$\u0080-\uffff]/.test(stmt[to])) to++;
    return { from: off, to: Math.max(to, Math.min(off + 1, stmt.length)) };
  }
  if (error.line > 0) {
    const lines = stmt.split('\n');
    if (error.line > lines.length) return null;
    let from = 0;
    for (let i = 0; i < error.line - 1; i++) from += lines[i].length + 1;
    const line = lines[error.line - 1];
    const near = /near '([\s\S]*)' at line \d+$/.exec(error.message || '');
    if (near && near[1]) {
      const at = line.indexOf(near[1].split('\n')[0].slice(0, 40));
      if (at >= 0) {
        const word = /^[\w$]+/.exec(line.slice(at));
        return { from: from + at, to: from + at + (word ? word[0].length : Math.max(1, line.length - at)) };
      }
    }
    return { from, to: from + Math.max(line.length, 0) };
  }
  return null;
}
