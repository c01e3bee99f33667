// SSL_GET (keepalived.md §3.4): HTTP_GET over TLS; the certificate is not
// verified unless `verify` (keepalived's SSL_GET without a `ca`).
import { defineHealthCheck } from 'lvsd';
import { httpCheck, httpOptions } from './lib/http.js';

export default defineHealthCheck({
  name: 'https',
  description: 'HTTPS GET (keepalived SSL_GET)',
  defaults: { delayBeforeRetry: 3 },
  options: httpOptions(true),
  steps: (o) => o.urls.length,
  check: httpCheck,
});
