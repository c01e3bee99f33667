// Secrets out of log lines and listings. A health check's target may carry a
// token (an HTTP path's query string, user:password@ in a URL, a key=… in a
// command line); what a check reports, and every line the logger writes, go
// through redact() first.

/** What stands for a removed secret. */
export const REDACTED = '<redacted>';

/** Option and parameter names whose values are secrets (password=, api_key: …). */
const SECRET_NAMES = 'pass(?:word|wd|phrase)|secret|token|auth(?:orization|[_-]?key)|api[_-]?key|access[_-]?key|private[_-]?key|credentials?';

// scheme://user:password@host → scheme://<redacted>@host
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi;
// /path?query → /path?<redacted> (a URL or a bare path; the query may hold tokens)
const QUERY = /((?:[a-z][a-z0-9+.-]*:\/\/[^\s/?#]*)?\/[^\s?#"'`]*)\?[^\s#"'`]+/gi;
// password=x, "token": "x", apiKey: x
const NAMED = new RegExp(`\\b((?:${SECRET_NAMES})["']?\\s*[=:]\\s*["']?)(?!Bearer\\b|Basic\\b|${REDACTED})[^\\s"',;&}]+`, 'gi');
// Authorization: Bearer x / Basic x
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

/** `text` with URL userinfo, query strings and named secrets replaced by REDACTED. */
export function redact(text: string): string {
  // cheap test first: most log lines hold none of the markers
  if (!/[?@=:]|Bearer|Basic/.test(text)) return text;
  return text
    .replace(USERINFO, `$1${REDACTED}@`)
    .replace(QUERY, `$1?${REDACTED}`)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(NAMED, `$1${REDACTED}`);
}
