// core/conn: connection table (typed-array hash + timer wheel), IPVS state machines, templates.
export * from './states.js';
export * from './store.js';
export * from './table.js';
