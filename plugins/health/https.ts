// SSL_GET (keepalived.md §3.4): HTTP_GET over TLS; the certificate is not
// verified unless `verify` (keepalived's SSL_GET without a `ca`).
import { defineHealthCheck } from '../../core/plugin.js';
import { httpCheck, httpOptions, type HttpOptions } from './lib/http.js';

export default defineHealthCheck<HttpOptions>({
  name: 'https',
  description: 'HTTPS GET (keepalived SSL_GET)',
  defaults: { delayBeforeRetry: 3 },
  options: (raw) => httpOptions(raw, true),
  steps: (o) => o.urls.length,
  check: httpCheck,
});
