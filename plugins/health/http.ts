// HTTP_GET (keepalived.md §3.4).
import { defineHealthCheck } from '../../core/plugin.js';
import { httpCheck, httpOptions, type HttpOptions } from './lib/http.js';

export default defineHealthCheck<HttpOptions>({
  name: 'http',
  description: 'HTTP GET: status code, MD5 digest of the body (keepalived HTTP_GET)',
  defaults: { delayBeforeRetry: 3 },
  options: (raw) => httpOptions(raw, false),
  steps: (o) => o.urls.length,
  check: httpCheck,
});
