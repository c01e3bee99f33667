// What `import … from 'lvsd'` gives config.ts and plugins.

import type { LvsdConfig } from './config/types.js';

/** Identity at run time; gives config.ts its types. */
export function defineConfig(config: LvsdConfig): LvsdConfig {
  return config;
}

export type * from './config/types.js';
export {
  defineScheduler, defineForwarder, defineHealthCheck, defineClassifier, defineSync,
} from './plugin.js';
export type {
  SchedulerPlugin, SchedService, SchedDest, SchedPacket, SchedContext,
  ForwarderPlugin, FrameView, FwdPacket, FwdIo, FwdDest, FwdLink,
  HealthCheckPlugin, HealthTarget, HealthResult, HealthContext, HealthFailure, HealthDefaults,
  ClassifierPlugin, SyncPlugin, SyncHandle,
} from './plugin.js';
