// One formatting rule for every result shown as text, in the workspace
// grid and in dashboard tables alike (FORMAT_RULE says it in words):
// numbers are right-aligned and grouped as the browser's language writes
// them, without rounding (an exact decimal keeps every digit); dates and
// times are shown as the database holds them (a date, a wall clock
// without zone, an instant in UTC marked Z); NULL is its own mark, never
// the text "NULL"; bytes are a hex preview; JSON is compact. Copying
// always takes the value as it came, never the formatted text. Pure
// functions only, so that node tests them (jstest/format.test.mjs).

/** FORMAT_RULE states the rule for the pages that show results. */
export const FORMAT_RULE = 'Numbers are grouped as your browser’s language writes them, never rounded; dates and times are shown as the database holds them (an instant in UTC, marked Z); NULL is marked apart from any text; bytes are shown in hex. Copying takes the values as they came.';

const NUMERIC = new Set(['int', 'integer', 'smallint', 'bigint', 'tinyint', 'mediumint', 'int2', 'int4', 'int8', 'oid',
  'float', 'float4', 'float8', 'double', 'double precision', 'real', 'numeric', 'decimal', 'money', 'year',
  'tinyint unsigned', 'smallint unsigned', 'mediumint unsigned', 'int unsigned', 'bigint unsigned',
  'decimal unsigned', 'float unsigned', 'double unsigned', 'number']);
const BYTES = new Set(['bytea', 'blob', 'tinyblob', 'mediumblob', 'longblob', 'binary', 'varbinary', 'bit', 'geometry', 'vector']);
const TEMPORAL = new Set(['date', 'timestamp', 'timestamptz', 'datetime', 'time', 'timetz']);

/** isNumericType reports whether a column type holds numbers. */
export function isNumericType(type) {
  return NUMERIC.has(String(type || '').toLowerCase());
}

/** isBytesType reports whether a column type holds bytes (sent as base64). */
export function isBytesType(type) {
  return BYTES.has(String(type || '').toLowerCase());
}

/** isTemporalType reports whether a column type holds dates or times. */
export function isTemporalType(type) {
  return TEMPORAL.has(String(type || '').toLowerCase());
}

const separators = new Map();

/** numberSeparators returns the group and decimal marks of a locale. */
export function numberSeparators(locale) {
  const key = locale || '';
  let s = separators.get(key);
  if (!s) {
    s = { group: ',', decimal: '.' };
    for (const p of new Intl.NumberFormat(locale || undefined).formatToParts(1234567.5)) {
      if (p.type === 'group') s.group = p.value;
      else if (p.type === 'decimal') s.decimal = p.value;
    }
    separators.set(key, s);
  }
  return s;
}

const PLAIN_NUMBER = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * groupNumber writes a number's text (a JS number's shortest form, or an
 * exact decimal string) with the locale's marks, keeping every digit.
 * Text that is not a plain decimal (NaN, Infinity, 1e300) is left as is.
 */
export function groupNumber(s, locale) {
  const m = PLAIN_NUMBER.exec(s);
  if (!m) return s;
  const { group, decimal } = numberSeparators(locale);
  let int = m[2];
  let out = '';
  while (int.length > 3) {
    out = group + int.slice(-3) + out;
    int = int.slice(0, -3);
  }
  out = m[1] + int + out;
  return m[3] === undefined ? out : out + decimal + m[3];
}

/** hexPreview shows base64 bytes as hex: the first max bytes and the length. */
export function hexPreview(b64, max = 16) {
  let bin;
  try { bin = atob(b64); } catch { return String(b64); }
  let hex = '';
  for (let i = 0; i < Math.min(bin.length, max); i++) hex += bin.charCodeAt(i).toString(16).padStart(2, '0');
  const n = bin.length;
  return n > max ? `\\x${hex}… (${n} bytes)` : `\\x${hex}`;
}

/**
 * formatValue returns how one value is shown: its text and a class
 * (null, num, bytes, json, bool or '').
 */
export function formatValue(v, type, locale) {
  if (v === null || v === undefined) return { text: 'NULL', cls: 'null' };
  if (typeof v === 'number') return { text: Number.isFinite(v) ? groupNumber(String(v), locale) : String(v), cls: 'num' };
  if (typeof v === 'boolean') return { text: String(v), cls: 'bool' };
  if (typeof v === 'object') return { text: JSON.stringify(v), cls: 'json' };
  if (isBytesType(type)) return { text: hexPreview(v), cls: 'bytes' };
  if (isNumericType(type)) return { text: groupNumber(v, locale), cls: 'num' };
  return { text: v, cls: '' };
}

/** plainText is a value as it came, as text: '' for NULL, JSON for objects. */
export function plainText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function csvField(s) {
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function tsvField(s) {
  // Tabs and line breaks would split the cell: they become spaces.
  return s.replace(/[\t\r\n]/g, ' ');
}

/**
 * copyText writes rows (arrays of values) of the named columns as tsv,
 * csv or json (an array of objects, or one object when single is set).
 * header adds the column names as a first line (tsv, csv).
 */
export function copyText(format, names, rows, { header = false, single = false } = {}) {
  if (format === 'json') {
    const objs = rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i] === undefined ? null : r[i]])));
    if (single && objs.length === 1) {
      return names.length === 1 ? JSON.stringify(objs[0][names[0]]) : JSON.stringify(objs[0]);
    }
    return JSON.stringify(objs);
  }
  const field = format === 'csv' ? csvField : tsvField;
  const sep = format === 'csv' ? ',' : '\t';
  const lines = [];
  if (header) lines.push(names.map((n) => field(String(n))).join(sep));
  for (const r of rows) lines.push(r.map((v) => field(plainText(v))).join(sep));
  return lines.join(format === 'csv' ? '\r\n' : '\n');
}

const collator = new Intl.Collator(undefined, { numeric: true });

/**
 * comparator returns a compare function of two values of a column: NULLs
 * last, numbers by value (exact decimals too), everything else by the
 * locale's collation (ISO dates thus in time order).
 */
export function comparator(type) {
  const numeric = isNumericType(type);
  return (a, b) => {
    const an = a === null || a === undefined;
    const bn = b === null || b === undefined;
    if (an || bn) return an === bn ? 0 : an ? 1 : -1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    if (numeric) {
      const d = Number(a) - Number(b);
      if (!Number.isNaN(d)) return d;
    }
    if (typeof a === 'object' || typeof b === 'object') return collator.compare(JSON.stringify(a), JSON.stringify(b));
    return collator.compare(String(a), String(b));
  };
}

/** isLong reports whether a value is better read in the side panel. */
export function isLong(v, text) {
  return (v !== null && typeof v === 'object') || text.length > 60 || /\n/.test(text);
}

/** expanded is a value written out in full for the side panel (JSON indented). */
export function expanded(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'object') return JSON.stringify(v, null, 2);
  if (typeof v === 'string' && /^\s*[[{]/.test(v)) {
    try { return JSON.stringify(JSON.parse(v), null, 2); } catch { /* not JSON: as it is */ }
  }
  return String(v);
}
