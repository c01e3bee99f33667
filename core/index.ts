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

// ---- control-plane plugin kinds: sync, failover (issue 10, h5) ----
export { defineFailover } from './plugin.js';
export type {
  FailoverPlugin, ControlContext, ControlTable, ControlBus, ControlHandle, RegistryView, SyncEvent, FailoverEvent,
} from './plugin.js';
export type { BusEvents } from './bus.js';
export type { TableEvent, ChangeSource } from './model/events.js';
export type {
  ServiceKey, ServiceSpec, ServiceView, DestKey, DestSpec, DestView, Timeouts, SyncDaemonSpec,
} from './model/types.js';
export type { ConnView, InfoView } from './control/protocol.js';
export type { Result, Errno, TableError } from './errors.js';
export type { Logger } from './log.js';
export type { Clock, TimerHandle } from './health/clock.js';
/** The schema library plugin options are written in (the one the config's schema uses). */
export { z } from 'zod';
