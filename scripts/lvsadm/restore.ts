// How `ipvsadm -R` cuts its input into argument vectors: config_stream_read()
// from ipvsadm's config_stream.c, quirks included. Each call reads tokens
// (runs of non-blanks, at most 4096 characters) up to a newline; a token equal
// to `ipvsadm` is dropped; '#' is not special. Blank runs that reach the end
// of the input discard the vector being built, so a last line that ends in two
// or more blanks and no newline is never run.

const MAX_TOKEN = 4096;
const isBlank = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/** One call of config_stream_read: the tokens of the next line, or null at the end. */
function readVector(s: string, at: { pos: number }): string[] | null {
  const tokens: string[] = [];
  for (;;) {
    if (at.pos >= s.length) break; // fscanf hit EOF before converting anything
    if (isBlank(s[at.pos]!)) {
      // status 0: skip blanks; a newline ends the vector, the end of input drops it.
      for (;;) {
        if (at.pos >= s.length) return null;
        const c = s[at.pos++]!;
        if (c === '\n') return tokens;
        if (c !== ' ' && c !== '\t' && c !== '\r') { at.pos--; break; }
      }
      continue;
    }
    const start = at.pos;
    while (at.pos < s.length && at.pos - start < MAX_TOKEN && !isBlank(s[at.pos]!)) at.pos++;
    const token = s.slice(start, at.pos);
    let tail = '';
    if (at.pos < s.length && isBlank(s[at.pos]!)) tail = s[at.pos++]!;
    if (token !== 'ipvsadm') tokens.push(token);
    if (tail === '\n') return tokens;
  }
  return tokens.length === 0 ? null : tokens;
}

/**
 * The argument vectors `-R` runs, in order (without the program name). Empty
 * vectors are kept out: ipvsadm skips them.
 */
export function restoreVectors(input: string): string[][] {
  const out: string[][] = [];
  const at = { pos: 0 };
  for (let v = readVector(input, at); v !== null; v = readVector(input, at)) {
    if (v.length > 0) out.push(v);
  }
  return out;
}
