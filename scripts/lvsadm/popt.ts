// The slice of popt 1.19 that ipvsadm's command line goes through: option
// scanning (short clusters, --long, --long=value, optional arguments, `--`),
// leftover arguments, and the text of the element an error is reported on.

export type ArgKind = 'none' | 'required' | 'optional';

export interface OptionDef {
  long: string;
  short?: string;
  arg: ArgKind;
  /** What the caller switches on (ipvsadm's `val`). */
  tag: string;
}

export type PoptError = 'unknown option' | 'missing argument' | 'option does not take an argument';

export type Next =
  | { kind: 'opt'; tag: string; arg: string | null }
  | { kind: 'end' }
  | { kind: 'error'; error: PoptError };

export class Popt {
  private readonly argv: readonly string[];
  private next = 0;
  private nextCharArg: string | null = null;
  private restLeftover = false;
  private readonly leftovers: string[] = [];
  private leftoverIdx = 0;

  /** `argv` without the program name. */
  constructor(argv: readonly string[], private readonly table: readonly OptionDef[]) {
    this.argv = argv;
  }

  /** poptBadOption(NOALIAS): the whole argv element last consumed. */
  badOption(): string {
    return this.argv[this.next - 1] ?? '';
  }

  /** poptGetArg: leftover (non-option) arguments, in order. */
  getArg(): string | null {
    return this.leftoverIdx < this.leftovers.length ? this.leftovers[this.leftoverIdx++]! : null;
  }

  getNextOpt(): Next {
    let opt: OptionDef | undefined;
    let longArg: string | null = null;
    for (;;) {
      if (this.nextCharArg === null) {
        if (this.next >= this.argv.length) return { kind: 'end' };
        const orig = this.argv[this.next++]!;
        if (this.restLeftover || orig[0] !== '-' || orig === '-') { this.leftovers.push(orig); continue; }
        if (orig === '--') { this.restLeftover = true; continue; }
        let s = orig.slice(1);
        const singleDash = s[0] !== '-';
        if (!singleDash) s = s.slice(1);
        if (!singleDash) {
          const eq = s.indexOf('=');
          const name = eq >= 0 ? s.slice(0, eq) : s;
          if (eq >= 0) longArg = s.slice(eq + 1);
          opt = this.table.find((o) => o.long === name);
          if (!opt) return { kind: 'error', error: 'unknown option' };
          // A long option that takes nothing must not be given "=value".
          if (opt.arg === 'none' && longArg !== null) return { kind: 'error', error: 'option does not take an argument' };
          break;
        }
        this.nextCharArg = s;
      }
      const cluster = this.nextCharArg;
      this.nextCharArg = null;
      opt = this.table.find((o) => o.short === cluster[0]);
      if (!opt) return { kind: 'error', error: 'unknown option' };
      const rest = cluster.slice(1);
      if (rest !== '') {
        // -n=5: a flag followed by '=' in its cluster is an unwanted argument.
        if (opt.arg === 'none' && rest[0] === '=') return { kind: 'error', error: 'option does not take an argument' };
        this.nextCharArg = rest;
      }
      break;
    }
    if (opt.arg === 'none') return { kind: 'opt', tag: opt.tag, arg: null };
    if (longArg !== null) return { kind: 'opt', tag: opt.tag, arg: longArg };
    if (this.nextCharArg !== null) {
      const a = this.nextCharArg;
      this.nextCharArg = null;
      return { kind: 'opt', tag: opt.tag, arg: a[0] === '=' ? a.slice(1) : a };
    }
    if (this.next >= this.argv.length) {
      if (opt.arg === 'required') return { kind: 'error', error: 'missing argument' };
      return { kind: 'opt', tag: opt.tag, arg: null };
    }
    // An optional argument is not taken from a following option.
    if (opt.arg === 'optional' && this.argv[this.next]![0] === '-') return { kind: 'opt', tag: opt.tag, arg: null };
    return { kind: 'opt', tag: opt.tag, arg: this.argv[this.next++]! };
  }
}
