import { InputError } from './stream.js';
import { splitWords, UnclosedQuote } from './cmdline.js';

// splitCommand splits a Redis command line into its words (see splitWords
// in cmdline.js): spaces separate words; "double quotes" allow \" \\ \n \t
// escapes; 'single quotes' are literal. An unterminated quote is an error.
export function splitCommand(line) {
  try {
    return splitWords(line);
  } catch (e) {
    if (e instanceof UnclosedQuote) throw new SplitError(e.message);
    throw e;
  }
}

/** SplitError is a command line that cannot be split: shown like any input error. */
export class SplitError extends InputError {}
