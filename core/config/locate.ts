// Best-effort: where in config.ts (or the files it imports) is the field a
// schema error names? The evaluated object no longer knows its source, so we
// read the source: first by structure (follow `services` → 0th element →
// `reals` → 1st element → `weight` through object and array literals, and
// through `const x = …` indirections), then, when the config is computed
// (loops, .map, spreads), by searching the text for the key — with its value
// when we have one — and trusting a unique hit. A found location says whether
// it is exact or approximate; none at all is a normal outcome.

export interface SourceLocation {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Found by text search or only up to a parent: may be near rather than at the field. */
  approximate: boolean;
}

type Segment = string | number;

/** `services[0].reals[1].weight`, `neighbors["10.0.0.1"]` → segments. */
export function parsePath(path: string): Segment[] {
  const out: Segment[] = [];
  const re = /([A-Za-z_$][\w$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (let m = re.exec(path); m; m = re.exec(path)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]!) as string);
  }
  return out;
}

// ------------------------------------------------------------------ tokens

export interface Token {
  /** 'w' word/number, 's' string or template, 'p' punctuation. */
  kind: 'w' | 's' | 'p';
  text: string;
  /** String value for 's'. */
  value?: string;
  pos: number;
}

/** A small JS/TS tokenizer: enough to find keys and brackets; regex literals are not understood. */
export function tokenize(src: string): Token[] {
  const toks: Token[] = [];
  let i = 0;
  const n = src.length;
  const skipTemplate = (start: number): number => {
    // start at the opening backtick; returns the index after the closing one.
    let j = start + 1;
    while (j < n && src[j] !== '`') {
      if (src[j] === '\\') { j += 2; continue; }
      if (src[j] === '$' && src[j + 1] === '{') {
        let depth = 1;
        j += 2;
        while (j < n && depth > 0) {
          const ch = src[j]!;
          if (ch === '`') { j = skipTemplate(j); continue; }
          if (ch === '"' || ch === '\'') { j = skipString(j); continue; }
          if (ch === '{') depth++;
          else if (ch === '}') depth--;
          j++;
        }
        continue;
      }
      j++;
    }
    return j + 1;
  };
  const skipString = (start: number): number => {
    const q = src[start];
    let j = start + 1;
    while (j < n && src[j] !== q && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
    return j + 1;
  };
  while (i < n) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '/' && src[i + 1] === '/') { while (i < n && src[i] !== '\n') i++; continue; }
    if (c === '/' && src[i + 1] === '*') { const e = src.indexOf('*/', i + 2); i = e < 0 ? n : e + 2; continue; }
    if (c === '"' || c === '\'') {
      const e = skipString(i);
      const text = src.slice(i, e);
      let value = text.slice(1, -1);
      try { value = JSON.parse(`"${value.replace(/\\'/g, '\'').replace(/"/g, '\\"')}"`) as string; } catch { /* keep raw */ }
      toks.push({ kind: 's', text, value, pos: i });
      i = e;
      continue;
    }
    if (c === '`') {
      const e = skipTemplate(i);
      const text = src.slice(i, e);
      toks.push({ kind: 's', text, value: text.includes('${') ? undefined : text.slice(1, -1), pos: i });
      i = e;
      continue;
    }
    if (/[\w$]/.test(c)) {
      let e = i + 1;
      while (e < n && /[\w$.]/.test(src[e]!) && !(src[e] === '.' && src[e + 1] === '.')) e++;
      toks.push({ kind: 'w', text: src.slice(i, e), pos: i });
      i = e;
      continue;
    }
    if (src.startsWith('...', i)) { toks.push({ kind: 'p', text: '...', pos: i }); i += 3; continue; }
    if (src.startsWith('=>', i)) { toks.push({ kind: 'p', text: '=>', pos: i }); i += 2; continue; }
    toks.push({ kind: 'p', text: c, pos: i });
    i++;
  }
  return toks;
}

const OPEN: Record<string, string> = { '{': '}', '[': ']', '(': ')' };

/** Index of the token after a balanced group starting at `i` (an opener). */
function skipGroup(t: Token[], i: number): number {
  let depth = 0;
  for (let j = i; j < t.length; j++) {
    const x = t[j]!.text;
    if (t[j]!.kind !== 'p') continue;
    if (x in OPEN) depth++;
    else if (x === '}' || x === ']' || x === ')') { depth--; if (depth === 0) return j + 1; }
  }
  return t.length;
}

/** Index of the `,` or closer that ends the expression starting at `i`. */
function skipExpr(t: Token[], i: number): number {
  let j = i;
  while (j < t.length) {
    const x = t[j]!;
    if (x.kind === 'p' && (x.text === ',' || x.text === '}' || x.text === ']' || x.text === ')')) return j;
    j = x.kind === 'p' && x.text in OPEN ? skipGroup(t, j) : j + 1;
  }
  return j;
}

interface Found { tok: number; parentOnly?: boolean }

/** In the object literal at `open`, the token index of key `key`, or -1. */
function findKey(t: Token[], open: number, key: string): number {
  let j = open + 1;
  let hit = -1;
  while (j < t.length && t[j]!.text !== '}') {
    const k = t[j]!;
    if (k.kind === 'p' && k.text === '...') { j = skipExpr(t, j + 1); }
    else {
      const name = k.kind === 's' ? k.value : k.kind === 'w' ? k.text : undefined;
      if (name === key) hit = j;          // the last one wins, as in JS
      j = t[j + 1]?.text === ':' ? skipExpr(t, j + 2) : skipExpr(t, j + 1);
    }
    if (t[j]?.text === ',') j++;
  }
  return hit;
}

/** In the array literal at `open`, the token index of element `idx`, or -1 (also when a spread makes it unknowable). */
function findElement(t: Token[], open: number, idx: number): number {
  let j = open + 1;
  for (let k = 0; j < t.length && t[j]!.text !== ']'; k++) {
    if (t[j]!.text === '...') return -1;
    if (k === idx) return j;
    j = skipExpr(t, j);
    if (t[j]?.text === ',') j++;
  }
  return -1;
}

/** From the start of a value, the `{`/`[` literal it is, following `const x =` and `defineConfig(…)`. */
function literalAt(t: Token[], i: number, depth = 0): number {
  const x = t[i];
  if (!x || depth > 8) return -1;
  if (x.kind === 'p' && (x.text === '{' || x.text === '[')) return i;
  if (x.kind === 'p' && x.text === '(') return literalAt(t, i + 1, depth + 1);
  if (x.kind === 'w' && t[i + 1]?.text === '(' && /^define\w*$/.test(x.text)) return literalAt(t, i + 2, depth + 1);
  if (x.kind === 'w' && /^[A-Za-z_$][\w$]*$/.test(x.text) && (t[i + 1]?.text === ',' || t[i + 1]?.text === ';'
      || t[i + 1]?.text === '}' || t[i + 1]?.text === ']' || t[i + 1] === undefined || t[i + 1]?.text === 'as')) {
    // A plain identifier: look for its declaration `const x = …` / `let x: T = …`.
    for (let j = 0; j < t.length - 2; j++) {
      if (t[j]!.text === x.text && /^(const|let|var)$/.test(t[j - 1]?.text ?? '')) {
        let k = j + 1;
        if (t[k]?.text === ':') k = skipTypeAnnotation(t, k + 1);
        if (t[k]?.text === '=') return literalAt(t, k + 1, depth + 1);
      }
    }
  }
  return -1;
}

function skipTypeAnnotation(t: Token[], i: number): number {
  let j = i;
  while (j < t.length && t[j]!.text !== '=') j = t[j]!.text in OPEN ? skipGroup(t, j) : j + 1;
  return j;
}

/** The literal `export default` gives, or -1. */
function rootLiteral(t: Token[]): number {
  for (let j = 0; j < t.length - 1; j++) {
    if (t[j]!.text === 'export' && t[j + 1]!.text === 'default') return literalAt(t, j + 2);
  }
  return -1;
}

function structural(t: Token[], segs: Segment[]): { found?: Found; deepest: number } {
  let lit = rootLiteral(t);
  let deepest = lit;
  if (lit < 0) return { deepest: -1 };
  for (let s = 0; s < segs.length; s++) {
    const seg = segs[s]!;
    const last = s === segs.length - 1;
    let at: number;
    if (typeof seg === 'number') at = t[lit]!.text === '[' ? findElement(t, lit, seg) : -1;
    else at = t[lit]!.text === '{' ? findKey(t, lit, seg) : -1;
    if (at < 0) return last && typeof seg === 'string' && t[lit]!.text === '{' ? { found: { tok: lit, parentOnly: true }, deepest } : { deepest };
    if (last) return { found: { tok: at }, deepest };
    deepest = at;
    const valueStart = typeof seg === 'number' ? at : (t[at + 1]?.text === ':' ? at + 2 : at);
    lit = literalAt(t, valueStart);
    if (lit < 0) return { deepest };
  }
  return { found: { tok: lit }, deepest };
}

function lineCol(src: string, pos: number): { line: number; column: number } {
  let line = 1;
  let ls = 0;
  for (let i = 0; i < pos; i++) if (src.charCodeAt(i) === 10) { line++; ls = i + 1; }
  return { line, column: pos - ls + 1 };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A value as it would be written in source, for searching; undefined when not worth searching. */
function valuePattern(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return `(?<![\\w.])${escapeRe(String(value))}(?![\\w.])`;
  if (typeof value === 'string') return `['"\`]${escapeRe(value)}['"\`]`;
  if (typeof value === 'boolean') return `\\b${value}\\b`;
  return undefined;
}

/**
 * Positions of `key:` (followed by the value when one is given), or of the
 * value alone when `key` is undefined. Type annotations (`weight: number`) are skipped.
 */
function textHits(src: string, key: string | undefined, value?: unknown): number[] {
  const keyRe = key === undefined ? '' : `(?:\\b${escapeRe(key)}\\b|['"\`]${escapeRe(key)}['"\`])\\??\\s*:`;
  let valRe = '';
  if (value !== undefined) {
    const v = valuePattern(value);
    if (v === undefined) return [];
    valRe = key === undefined ? v : `\\s*${v}`;
  } else {
    valRe = '(?!\\s*(?:number|string|boolean|unknown|any|readonly)\\b)';
  }
  const re = new RegExp(keyRe + valRe, 'g');
  const out: number[] = [];
  for (let m = re.exec(src); m; m = re.exec(src)) out.push(m.index);
  return out;
}

/**
 * Where the field at `path` is written. `sources` maps each local file that
 * went into the bundle to its text; `entry` is config.ts itself.
 */
export function locateField(path: string, value: unknown, hasValue: boolean, entry: string,
  sources: ReadonlyMap<string, string>, tokens?: Map<string, Token[]>): SourceLocation | undefined {
  const segs = parsePath(path);
  const src = sources.get(entry);
  let partial: SourceLocation | undefined;
  if (src !== undefined) {
    // Tokenizing is the costly part: callers locating several fields pass a cache.
    let t = tokens?.get(entry);
    if (!t) { t = tokenize(src); tokens?.set(entry, t); }
    const r = structural(t, segs);
    if (r.found) {
      const { line, column } = lineCol(src, t[r.found.tok]!.pos);
      if (!r.found.parentOnly || !hasValue) return { file: entry, line, column, approximate: false };
      partial = { file: entry, line, column, approximate: true };
    } else if (r.deepest >= 0) {
      partial = { file: entry, ...lineCol(src, t[r.deepest]!.pos), approximate: true };
    }
  }
  // Computed config: a unique textual hit for `key: value`, then for the value
  // alone (it may be an argument of the operator's helper: the place to fix),
  // then for the key alone.
  const last = segs[segs.length - 1];
  const key = typeof last === 'string' ? last : undefined;
  const searchable = hasValue && valuePattern(value) !== undefined
    && !(typeof value === 'number' && Math.abs(value) < 10) && !(typeof value === 'string' && value.length < 3);
  const attempts: [string | undefined, unknown][] = [];
  if (key !== undefined && hasValue) attempts.push([key, value]);
  if (searchable) attempts.push([undefined, value]);
  if (key !== undefined) attempts.push([key, undefined]);
  for (const [k, v] of attempts) {
    if (k === undefined && v === undefined) continue;
    const hits: SourceLocation[] = [];
    for (const [file, text] of sources) {
      for (const pos of textHits(text, k, v)) hits.push({ file, ...lineCol(text, pos), approximate: true });
    }
    if (hits.length === 1) return hits[0];
  }
  return partial;
}
