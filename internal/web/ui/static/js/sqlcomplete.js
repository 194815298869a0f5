// SQL completion from a datasource's schema, with no editor behind it
// (node's test runner loads it): keywords, schemas, tables and columns,
// qualified (schema.table, table.column) and through the aliases of the
// statement's FROM and JOIN clauses. editor.js adapts it to CodeMirror.
import { splitStatements, tokenize } from './sqltext.js';

/** KEYWORDS are offered everywhere a name may be typed. */
export const KEYWORDS = [
  'SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'NOT', 'NULL', 'IS', 'IN', 'EXISTS', 'BETWEEN', 'LIKE', 'ILIKE',
  'JOIN', 'LEFT', 'RIGHT', 'INNER', 'OUTER', 'FULL', 'CROSS', 'ON', 'USING', 'AS', 'DISTINCT',
  'GROUP BY', 'ORDER BY', 'HAVING', 'LIMIT', 'OFFSET', 'UNION', 'UNION ALL', 'INTERSECT', 'EXCEPT',
  'ASC', 'DESC', 'CASE', 'WHEN', 'THEN', 'ELSE', 'END', 'WITH', 'RECURSIVE',
  'INSERT INTO', 'VALUES', 'UPDATE', 'SET', 'DELETE FROM', 'RETURNING',
  'CREATE TABLE', 'CREATE VIEW', 'CREATE INDEX', 'ALTER TABLE', 'DROP TABLE',
  'BEGIN', 'COMMIT', 'ROLLBACK', 'EXPLAIN', 'COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'COALESCE', 'CAST',
  'TRUE', 'FALSE',
];

// Words that end a FROM list, and words that are never an alias.
const CLAUSE_END = new Set(['where', 'group', 'order', 'having', 'limit', 'offset', 'union', 'intersect', 'except',
  'on', 'using', 'set', 'values', 'returning', 'window', 'fetch', 'for', 'select', 'natural', 'lateral']);
const NOT_ALIAS = new Set([...CLAUSE_END, 'join', 'left', 'right', 'inner', 'outer', 'full', 'cross', 'as', 'straight_join']);
// Words after which a table name comes.
const TABLE_BEFORE = new Set(['from', 'join', 'update', 'into', 'straight_join']);

/**
 * quoteIdent returns name as the dialect reads it: plain when it can be
 * written unquoted (PostgreSQL folds unquoted names to lower case), else
 * quoted with its quote characters doubled.
 */
export function quoteIdent(name, dialect) {
  const plain = dialect === 'postgres' ? /^[a-z_][a-z0-9_$]*$/ : /^[A-Za-z_][A-Za-z0-9_]*$/;
  if (plain.test(name) && !RESERVED.has(name.toLowerCase())) return name;
  const q = dialect === 'mysql' ? '`' : '"';
  return q + name.split(q).join(q + q) + q;
}

// RESERVED words that must be quoted as names (a common subset).
const RESERVED = new Set(['select', 'from', 'where', 'group', 'order', 'by', 'table', 'user', 'limit', 'join', 'on',
  'and', 'or', 'not', 'null', 'as', 'in', 'is', 'to', 'all', 'any', 'case', 'when', 'then', 'else', 'end',
  'union', 'check', 'default', 'primary', 'references', 'desc', 'asc', 'having', 'offset', 'create', 'grant', 'column']);

/**
 * schemaIndex indexes a schema answer (GET /api/datasources/{id}/schema)
 * for completion. defaultSchema is the schema whose tables are named
 * without their schema: the only one, else PostgreSQL's "public" or
 * SQLite's "main".
 */
export function schemaIndex(answer, dialect) {
  const schemas = (answer && answer.schemas) || [];
  let def = schemas.length === 1 ? schemas[0].name : null;
  if (!def) {
    const want = dialect === 'postgres' ? 'public' : dialect === 'sqlite' ? 'main' : null;
    if (schemas.some((s) => s.name === want)) def = want;
  }
  return { schemas, defaultSchema: def, dialect };
}

/** qualifiedName names a table as a click in the tree inserts it. */
export function qualifiedName(index, schema, table) {
  const t = quoteIdent(table, index.dialect);
  return schema === index.defaultSchema ? t : `${quoteIdent(schema, index.dialect)}.${t}`;
}

/** starterQuery is the first query a table offers. */
export function starterQuery(index, schema, table) {
  return `SELECT * FROM ${qualifiedName(index, schema, table)} LIMIT 100`;
}

// same compares names as the dialect does: case-blind, except
// PostgreSQL's quoted names (compared as written).
function same(a, b) {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

// findTables returns the tables a path names: [table] in the default
// schema first, else any schema; [schema, table] exactly.
function findTables(index, path) {
  if (path.length === 2) {
    const s = index.schemas.find((x) => same(x.name, path[0]));
    return s ? (s.tables || []).filter((t) => same(t.name, path[1])).map((t) => ({ schema: s.name, table: t })) : [];
  }
  if (path.length !== 1) return [];
  const all = [];
  for (const s of index.schemas) {
    for (const t of s.tables || []) if (same(t.name, path[0])) all.push({ schema: s.name, table: t });
  }
  const inDefault = all.filter((x) => x.schema === index.defaultSchema);
  return inDefault.length ? inDefault : all;
}

// nameOf is the name a word or quoted-identifier token stands for.
function nameOf(text, t) {
  const s = text.slice(t.from, t.to);
  if (t.type !== 'ident') return s;
  const q = s[0] === '[' ? ']' : s[0];
  return s.slice(1, s.endsWith(q) && s.length > 1 ? -1 : undefined).split(q + q).join(q);
}

const isName = (t) => t && (t.type === 'word' || t.type === 'ident');
const isDot = (text, t) => t && t.type === 'punct' && text[t.from] === '.';

/**
 * tableRefs returns the tables a statement names after FROM, JOIN, UPDATE
 * and INTO, each as {path, alias}: "FROM s.t AS x, u JOIN v y" gives
 * [{path:[s,t], alias:x}, {path:[u]}, {path:[v], alias:y}].
 */
export function tableRefs(text, dialect) {
  const toks = tokenize(text, dialect).filter((t) => t.type !== 'space' && t.type !== 'comment');
  const refs = [];
  let inFrom = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    const w = t.type === 'word' ? text.slice(t.from, t.to).toLowerCase() : null;
    const comma = t.type === 'punct' && text[t.from] === ',';
    if (w && CLAUSE_END.has(w)) { inFrom = false; continue; }
    if (!(w && TABLE_BEFORE.has(w)) && !(comma && inFrom)) continue;
    inFrom = w !== 'into';
    let j = i + 1;
    if (!isName(toks[j])) continue;
    const path = [nameOf(text, toks[j])];
    while (isDot(text, toks[j + 1]) && isName(toks[j + 2])) {
      path.push(nameOf(text, toks[j + 2]));
      j += 2;
    }
    let alias = null;
    let k = j + 1;
    const kw = (x) => x && x.type === 'word' && text.slice(x.from, x.to).toLowerCase();
    if (kw(toks[k]) === 'as') k++;
    if (isName(toks[k]) && !(toks[k].type === 'word' && NOT_ALIAS.has(kw(toks[k])))) alias = nameOf(text, toks[k]);
    refs.push({ path: path.slice(-2), alias });
    i = j;
  }
  return refs;
}

/**
 * complete returns what may be typed at pos in text, as {from, options}
 * where options are {label, type, detail, apply} (apply quoted for the
 * dialect), or null inside a string or comment. from is where the word
 * being typed starts.
 */
export function complete(text, pos, index) {
  const dialect = index.dialect;
  const toks = tokenize(text, dialect);
  const at = toks.find((t) => t.from < pos && pos <= t.to);
  if (at && (at.type === 'string' || at.type === 'comment' || (at.type === 'ident' && at.to > pos))) return null;
  if (at && (at.type === 'number' || at.type === 'param')) return null;
  // The word being typed, and the names before it joined by dots.
  let from = pos;
  let k = at ? toks.indexOf(at) : -1;
  if (at && at.type === 'word') { from = at.from; k--; } else if (at && at.type === 'ident') { from = at.from; k--; }
  const path = [];
  while (k >= 1 && isDot(text, toks[k]) && isName(toks[k - 1]) && toks[k].to <= from) {
    path.unshift(nameOf(text, toks[k - 1]));
    k -= 2;
  }
  // The statement around pos, for its table references.
  const stmt = splitStatements(text, dialect).find((s) => pos >= s.from && pos <= s.end) || { from: pos, to: pos };
  const stmtText = text.slice(stmt.from, Math.max(stmt.to, pos));
  const refs = tableRefs(stmtText, dialect);
  const options = [];
  const q = (n) => quoteIdent(n, dialect);
  const columnsOf = (found, qualifier) => {
    for (const { schema, table } of found) {
      for (const c of table.columns || []) {
        const keys = [c.primary_key ? 'primary key' : '', c.references ? `→ ${c.references}` : ''].filter(Boolean).join(', ');
        options.push({ label: c.name, apply: q(c.name), type: 'property',
          detail: [c.type, qualifier || (schema === index.defaultSchema ? table.name : `${schema}.${table.name}`), keys].filter(Boolean).join(' · ') });
      }
    }
  };
  if (path.length === 0) {
    const inScope = [];
    for (const r of refs) inScope.push(...findTables(index, r.path));
    columnsOf(inScope);
    for (const r of refs) if (r.alias) options.push({ label: r.alias, apply: q(r.alias), type: 'variable', detail: `alias of ${r.path.join('.')}` });
    for (const s of index.schemas) {
      if (s.name !== index.defaultSchema) options.push({ label: s.name, apply: q(s.name), type: 'namespace', detail: 'schema' });
      for (const t of s.tables || []) {
        const label = s.name === index.defaultSchema ? t.name : `${s.name}.${t.name}`;
        options.push({ label, apply: qualifiedName(index, s.name, t.name), type: 'class', detail: t.kind || 'table' });
      }
    }
    for (const kw of KEYWORDS) options.push({ label: kw, type: 'keyword' });
  } else if (path.length === 1) {
    const ref = refs.find((r) => r.alias && same(r.alias, path[0]));
    if (ref) columnsOf(findTables(index, ref.path), path[0]);
    else columnsOf(findTables(index, path));
    const s = index.schemas.find((x) => same(x.name, path[0]));
    for (const t of (s && s.tables) || []) options.push({ label: t.name, apply: q(t.name), type: 'class', detail: t.kind || 'table' });
  } else {
    columnsOf(findTables(index, path.slice(-2)));
  }
  return { from, options };
}
