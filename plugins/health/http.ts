// HTTP_GET (keepalived.md §3.4).
import { defineHealthCheck } from 'lvsd';
import { httpCheck, httpOptions } from './lib/http.js';

export default defineHealthCheck({
  name: 'http',
  description: 'HTTP GET: status code, MD5 digest of the body (keepalived HTTP_GET)',
  defaults: { delayBeforeRetry: 3 },
  options: httpOptions(false),
  steps: (o) => o.urls.length,
  check: httpCheck,
});
