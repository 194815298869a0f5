// The code editor of the workspace: CodeMirror 6 (vendored as one
// prebuilt module, see tools/codemirror) set up for one language: SQL in
// the datasource's dialect, a Redis command line, or a JSON body.
//
// The editor lives in a shadow root of its host element: CodeMirror then
// mounts its styles as constructed style sheets (adoptedStyleSheets),
// which the page's strict CSP (style-src 'self', no inline style) allows,
// where in the document it would add <style> elements the CSP refuses.
// Its look is therefore set here (theme), not in app.css.
//
// Keyboard: Tab indents; Escape then Tab (within two seconds) leaves the
// editor, as CodeMirror's tab focus mode does; Ctrl/Cmd+Enter runs,
// Shift+Ctrl/Cmd+Enter runs all, Escape also cancels a running query.
import {
  EditorView, EditorState, EditorSelection, Compartment, Prec, keymap, lineNumbers, highlightActiveLine,
  highlightActiveLineGutter, highlightSpecialChars, drawSelection, dropCursor,
  defaultKeymap, history, historyKeymap, indentWithTab, bracketMatching, indentOnInput, syntaxHighlighting,
  defaultHighlightStyle, autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap, completionStatus, acceptCompletion,
  lintKeymap, setDiagnostics, searchKeymap, highlightSelectionMatches,
  sql, PostgreSQL, MySQL, SQLite, StandardSQL, json,
} from '../vendor/codemirror.js';

const dialects = { postgres: PostgreSQL, mysql: MySQL, sqlite: SQLite };

/**
 * createEditor makes an editor in parent. language is a SQL dialect
 * ("postgres", "mysql", "sqlite"), "redis" or "json". complete(text,
 * pos) returns {from, options} or null (see sqlcomplete.js). onRun,
 * onRunAll and onCancel are the keyboard's actions (onCancel returns
 * whether it canceled something); onChange gets the text after each
 * change. singleLine makes Enter run (a Redis command line).
 */
export function createEditor({ parent, language, doc = '', label, complete, onRun, onRunAll, onCancel, onChange, singleLine = false, minHeight = '12rem', maxHeight = '55vh' }) {
  const lang = new Compartment();
  const source = (ctx) => {
    if (!complete) return null;
    const r = complete(ctx.state.doc.toString(), ctx.pos);
    if (!r) return null;
    if (!ctx.explicit && r.from === ctx.pos && !/[.\w]$/.test(ctx.state.sliceDoc(ctx.pos - 1, ctx.pos))) return null;
    return { from: r.from, options: r.options, validFor: /^[\w$"`]*$/ };
  };
  const run = (fn) => () => { if (fn) fn(); return true; };
  const keys = [
    { key: 'Mod-Enter', run: run(onRun) },
    { key: 'Shift-Mod-Enter', run: run(onRunAll) },
    // Escape cancels a running query and goes on to CodeMirror's own
    // Escape (closing completion, tab focus mode).
    { key: 'Escape', run: () => { onCancel?.(); return false; } },
  ];
  if (singleLine) {
    // Enter takes the completion on show, else runs; it never breaks the
    // line.
    keys.push({ key: 'Enter', run: (view) => (completionStatus(view.state) === 'active' ? (acceptCompletion(view), true) : run(onRun)()) });
  }
  const extensions = [
    Prec.highest(keymap.of(keys)),
    highlightSpecialChars(),
    history(),
    drawSelection(),
    dropCursor(),
    indentOnInput(),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    bracketMatching(),
    closeBrackets(),
    autocompletion({ override: complete ? [source] : [], icons: false, activateOnTyping: true }),
    highlightSelectionMatches(),
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap, indentWithTab]),
    lang.of(languageOf(language)),
    EditorView.contentAttributes.of({ 'aria-label': label || 'Editor', autocapitalize: 'off', autocorrect: 'off', spellcheck: 'false' }),
    theme(singleLine ? '2.3rem' : minHeight, singleLine ? '6rem' : maxHeight),
    EditorView.updateListener.of((u) => {
      if (!u.docChanged) return;
      if (onChange) onChange(u.state.doc.toString());
      // An edit clears the marks of the last error (after this update:
      // no dispatch may happen during one).
      if (marked) {
        marked = false;
        setTimeout(() => view.dispatch(setDiagnostics(view.state, [])));
      }
    }),
  ];
  if (!singleLine) extensions.push(lineNumbers(), highlightActiveLineGutter(), highlightActiveLine());
  else {
    // One line: a line break (pasted, or typed by other means than the
    // Enter key) becomes a space.
    extensions.push(EditorState.transactionFilter.of((tr) => {
      if (!tr.docChanged || tr.newDoc.lines === 1) return tr;
      const changes = [];
      const text = tr.newDoc.toString();
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) changes.push({ from: i, to: i + 1, insert: ' ' });
      return [tr, { changes, sequential: true }];
    }));
  }
  let marked = false;
  const shadow = parent.shadowRoot || parent.attachShadow({ mode: 'open' });
  const box = document.createElement('div');
  shadow.replaceChildren(box);
  const view = new EditorView({ parent: box, state: EditorState.create({ doc, extensions }) });

  const ed = {
    view,
    getText: () => view.state.doc.toString(),
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text }, selection: EditorSelection.cursor(text.length) });
    },
    /** selection returns the selected range {from, to} or null. */
    selection() {
      const r = view.state.selection.main;
      return r.empty ? null : { from: r.from, to: r.to };
    },
    cursor: () => view.state.selection.main.head,
    /** insert puts text at the cursor (replacing a selection) and focuses. */
    insert(text) {
      view.dispatch(view.state.replaceSelection(text));
      view.focus();
    },
    /** markError underlines from..to with the message (null clears). */
    markError(range, message) {
      const len = view.state.doc.length;
      const list = range ? [{ from: Math.min(range.from, len), to: Math.min(Math.max(range.to, range.from), len), severity: 'error', message }] : [];
      view.dispatch(setDiagnostics(view.state, list));
      marked = list.length > 0;
      if (range) view.dispatch({ effects: EditorView.scrollIntoView(Math.min(range.from, len)) });
    },
    focus: () => view.focus(),
  };
  // A handle for the browser tests (which cannot import modules): the
  // host element knows its editor.
  parent.qgEditor = ed;
  return ed;
}

// theme is the editor's look in the page's colours: app.css's custom
// properties reach into the shadow root, so dark mode applies too.
function theme(minHeight, maxHeight) {
  return EditorView.theme({
    '&': { minHeight, maxHeight, fontSize: '.95rem', backgroundColor: 'var(--panel, #fff)', color: 'var(--fg, #1d2330)' },
    '&.cm-focused': { outline: 'none' },
    '.cm-scroller': { fontFamily: 'ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace', lineHeight: '1.45' },
    '.cm-content': { padding: '.45rem 0' },
    '.cm-gutters': { backgroundColor: 'var(--bg, #f7f8fa)', color: 'var(--muted, #8a93a3)', borderRight: '1px solid var(--line, #d9dde4)' },
    '.cm-activeLine': { backgroundColor: 'transparent' },
    '.cm-activeLineGutter': { backgroundColor: 'var(--line, #e9f0fb)' },
    '.cm-cursor': { borderLeftColor: 'var(--fg, #1d2330)' },
    '.cm-tooltip': { fontFamily: 'system-ui, sans-serif', fontSize: '.88rem' },
    '.cm-tooltip-autocomplete ul li[aria-selected]': { backgroundColor: '#1f5fbf', color: '#fff' },
    '.cm-completionDetail': { marginLeft: '.75em', opacity: '.75', fontStyle: 'normal' },
    '.cm-lintRange-error': { backgroundColor: '#fdecea' },
  });
}

function languageOf(language) {
  if (language === 'json') return json();
  if (language === 'redis') return [];
  return sql({ dialect: dialects[language] || StandardSQL, upperCaseKeywords: true });
}
