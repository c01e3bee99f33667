// The table API a control-plane plugin gets (ControlTable): lvsadm's
// operations, nothing more. Requests are checked exactly as the control
// socket checks lvsadm's (same validator, same errors), then carried out by
// the table with the plugin as the change's source, so every table event it
// causes names it. Answers are copies: a plugin cannot reach the live objects.

import { fail, ok, type Result } from '../errors.js';
import type { ChangeSource } from '../model/events.js';
import { CONN_TAB_SIZE, IPVS_VERSION, type ServiceTable } from '../model/table.js';
import type { ConnView, Request } from '../control/protocol.js';
import { checkRequest } from '../control/validate.js';
import type { ControlTable } from '../plugin.js';

export interface ControlTableDeps {
  table: ServiceTable;
  /** The data plane's connection entries (as the control socket gets them). */
  conns: () => ConnView[] | Promise<ConnView[]>;
  /** False once the plugin has stopped: its table handle then refuses every operation. */
  live: () => boolean;
}

const copy = <T>(v: T): T => structuredClone(v);

export function controlTable(deps: ControlTableDeps, source: ChangeSource): ControlTable {
  const { table } = deps;
  /** The request as lvsadm would send it, checked by the control socket's validator. */
  const check = <R extends Request>(req: R): Result<R> => {
    if (!deps.live()) return fail('EPERM', `${source.by} ${source.name ?? ''} is stopped`.trim());
    const r = checkRequest(req);
    return 'error' in r ? fail('EINVAL', r.error) : ok(r as R);
  };
  return {
    info: () => {
      const r = check({ op: 'info' });
      return r.ok ? ok({ version: IPVS_VERSION, connTabSize: CONN_TAB_SIZE }) : r;
    },
    services: () => {
      const r = check({ op: 'get-services' });
      return r.ok ? ok(table.snapshot()) : r;
    },
    service: (k) => {
      const r = check({ op: 'get-service', service: k });
      if (!r.ok) return r;
      const s = table.find(r.value.service);
      return s ? ok(s.view()) : fail('ESRCH', 'no such service');
    },
    addService: (spec) => {
      const r = check({ op: 'add-service', service: spec });
      if (!r.ok) return r;
      const s = table.addService(r.value.service, source);
      return s.ok ? ok(s.value.view()) : s;
    },
    editService: (spec) => {
      const r = check({ op: 'edit-service', service: spec });
      if (!r.ok) return r;
      const s = table.editService(r.value.service, source);
      return s.ok ? ok(s.value.view()) : s;
    },
    deleteService: (k) => {
      const r = check({ op: 'delete-service', service: k });
      if (!r.ok) return r;
      const s = table.deleteService(r.value.service, source);
      return s.ok ? ok(undefined) : s;
    },
    addDest: (k, d) => {
      const r = check({ op: 'add-dest', service: k, dest: d });
      if (!r.ok) return r;
      const x = table.addDest(r.value.service, r.value.dest, source);
      return x.ok ? ok(x.value.view()) : x;
    },
    editDest: (k, d) => {
      const r = check({ op: 'edit-dest', service: k, dest: d });
      if (!r.ok) return r;
      const x = table.editDest(r.value.service, r.value.dest, source);
      return x.ok ? ok(x.value.view()) : x;
    },
    deleteDest: (k, d) => {
      const r = check({ op: 'delete-dest', service: k, dest: d });
      if (!r.ok) return r;
      const x = table.deleteDest(r.value.service, r.value.dest, source);
      return x.ok ? ok(undefined) : x;
    },
    flush: () => {
      const r = check({ op: 'flush' });
      return r.ok ? table.flush(source) : r;
    },
    zero: (k) => {
      const r = check(k === undefined ? { op: 'zero' } : { op: 'zero', service: k });
      return r.ok ? table.zero(r.value.service, source) : r;
    },
    timeouts: () => {
      const r = check({ op: 'get-timeouts' });
      return r.ok ? ok({ ...table.timeouts }) : r;
    },
    setTimeouts: (t) => {
      const r = check({ op: 'set-timeouts', timeouts: t });
      return r.ok ? table.setTimeouts(r.value.timeouts, source) : r;
    },
    daemons: () => {
      const r = check({ op: 'get-daemons' });
      return r.ok ? ok(copy(table.daemons)) : r;
    },
    startDaemon: (d) => {
      const r = check({ op: 'start-daemon', daemon: d });
      if (!r.ok) return r;
      const x = table.startDaemon(r.value.daemon, source);
      return x.ok ? ok({ ...x.value }) : x;
    },
    stopDaemon: (state) => {
      const r = check({ op: 'stop-daemon', state });
      return r.ok ? table.stopDaemon(r.value.state, source) : r;
    },
    conns: async () => {
      const r = check({ op: 'get-conns' });
      if (!r.ok) return r;
      return ok(copy(await deps.conns()));
    },
  };
}
