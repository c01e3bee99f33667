// The sorry server (keepalived sorry_server): in the table while its service's
// quorum is lost; with sorryServerInhibit, kept there at weight 0 otherwise.

import type { ChangeSource } from '../model/events.js';
import { destKeyText } from '../model/types.js';
import { label, vsLabel, type HealthContext, type SvcState } from './state.js';

/** Brings the service's sorry server in the table in line with its quorum state and settings. */
export function syncSorry(ctx: HealthContext, st: SvcState, source: ChangeSource): void {
  const table = ctx.table;
  const sorry = st.settings.sorryServer;
  // Nothing to put in or take out (most services): no lookup.
  if (!sorry && !st.sorryInTable) return;
  if (!table.find(st.key)) return;
  const vl = vsLabel(st.key);
  // A sorry server that the config changed or dropped leaves first.
  if (st.sorryInTable && (!sorry || destKeyText(sorry) !== destKeyText(st.sorryInTable))) {
    table.deleteDest(st.key, st.sorryInTable, source);
    st.sorryInTable = null;
  }
  if (!sorry) return;
  const want = st.sorryActive ? sorry.weight : st.settings.sorryServerInhibit ? 0 : -1;
  const live = table.find(st.key)?.findDest(sorry);
  if (want < 0) {
    if (live) table.deleteDest(st.key, sorry, source);
    st.sorryInTable = null;
    return;
  }
  if (!live) {
    const r = table.addDest(st.key, { ...sorry, weight: want }, source);
    if (!r.ok) { ctx.log.error(`cannot add sorry server ${label(st.key.protocol, sorry)} to VS ${vl}: ${r.error.message}`); return; }
  } else if (live.spec.weight !== want) {
    table.editDest(st.key, { ...live.spec, weight: want }, source);
  }
  st.sorryInTable = { ...sorry };
}
