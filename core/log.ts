// Log lines on stderr, one per event, prefixed so they read well under systemd.
// Every line goes through redact(): no token from a check's target reaches a log.

import { redact } from './security/redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** Whether lines of this level are written (absent: assume so); lets a caller skip building a long line nobody reads. */
  enabled?(level: LogLevel): boolean;
}

export function createLogger(min: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const at = (level: LogLevel) => (msg: string): void => {
    if (ORDER[level] < ORDER[min]) return;
    const tag = level === 'info' ? '' : `${level}: `;
    for (const line of redact(msg).split('\n')) write(`lvsd: ${tag}${line}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), enabled: (level) => ORDER[level] >= ORDER[min] };
}
