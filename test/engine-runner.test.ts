// The memory-wire data plane (core/engine/runner.ts): the plugins it takes
// from the registry, and its wire across a config reload.

import { strict as assert } from 'node:assert';
import { dataPlanePlugins } from '../core/engine/runner.js';
import { PluginRegistry } from '../core/plugins/loader.js';
import { defineClassifier } from '../core/plugin.js';
import nat from '../plugins/forwarding/nat.js';
import dr from '../plugins/forwarding/dr.js';
import tun from '../plugins/forwarding/tun.js';

const mark7 = defineClassifier({ name: 'mark7', classify: () => 7 });

function registry(): PluginRegistry {
  const reg = new PluginRegistry();
  for (const p of [tun, nat, mark7, dr]) reg.add({ plugin: p, file: `/x/${p.name}.ts`, module: `/x/${p.name}.mjs` });
  return reg;
}

describe('data plane (memory wire)', () => {
  it('dataPlanePlugins: every forwarder and classifier of the registry, by name', () => {
    const { forwarders, classifiers } = dataPlanePlugins(registry());
    assert.deepEqual(forwarders, [dr, nat, tun]);
    assert.deepEqual(classifiers, [mark7]);
    assert.deepEqual(dataPlanePlugins(new PluginRegistry()), { forwarders: [], classifiers: [] });
  });
});
