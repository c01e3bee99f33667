// What `import … from 'lvsd'` gives config.ts and plugins.

import type { LvsdConfig } from './config/types.js';

/** Identity at run time; gives config.ts its types. */
export function defineConfig(config: LvsdConfig): LvsdConfig {
  return config;
}

export {
  defineScheduler, defineForwarder, defineHealthCheck, defineClassifier, defineSync,
} from './plugin.js';
export type {
  SchedulerPlugin, SchedService, SchedDest, SchedPacket, SchedContext,
  ForwarderPlugin, FrameView, FwdPacket, FwdIo, FwdDest, FwdLink,
  HealthCheckPlugin, HealthTarget, HealthResult, HealthContext, HealthFailure, HealthDefaults,
  ClassifierPlugin, SyncPlugin, SyncHandle,
} from './plugin.js';

// ---- config types, the schema library and what health check plugins need
// (issue 10, h1: config on zod; plugins declare their option schemas with the
// project's own zod, and built-in checkers import only from 'lvsd').
export { z } from 'zod';
export type {
  LvsdConfig, ServiceConfig, RealServerConfig, SorryServerConfig, PersistenceConfig, TunnelConfig, SlowStartConfig,
  HealthCheckConfig, HealthCommonConfig, ScheduleConfig, ScheduleTarget, InterfaceConfig, ForwardMode, Command,
  PluginConfigKeys,
} from './config/types.js';
export type { HealthOptionsResult } from './plugin.js';
export { commandArgv, runProgram, type RunResult } from './health/script.js';
