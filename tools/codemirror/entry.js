// The parts of CodeMirror 6 that querygate's pages use, bundled by
// build.sh into one ES module (internal/web/ui/static/vendor/codemirror.js).
// Add a name here when a page needs it, then run build.sh.
export {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, drawSelection, dropCursor, rectangularSelection, crosshairCursor,
  placeholder, Decoration, ViewPlugin,
} from '@codemirror/view';
export { EditorState, EditorSelection, Compartment, StateEffect, StateField, Prec } from '@codemirror/state';
export { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
export {
  bracketMatching, indentOnInput, syntaxHighlighting, defaultHighlightStyle, foldGutter, foldKeymap,
} from '@codemirror/language';
export {
  autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap, completionStatus,
  startCompletion, acceptCompletion, currentCompletions, CompletionContext,
} from '@codemirror/autocomplete';
export { linter, lintGutter, lintKeymap, setDiagnostics, forEachDiagnostic } from '@codemirror/lint';
export { searchKeymap, highlightSelectionMatches } from '@codemirror/search';
export {
  sql, PostgreSQL, MySQL, MariaSQL, SQLite, StandardSQL, keywordCompletionSource, schemaCompletionSource,
} from '@codemirror/lang-sql';
export { json } from '@codemirror/lang-json';
