// Mocha's spec reporter, plus the closing lines CI reads: skipped tests on
// their own line, then last "N passed, N failed".
'use strict';
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      process.stdout.write(`${s.pending} skipped\n${s.passes} passed, ${s.failures} failed\n`);
    });
  }
}
module.exports = SummaryReporter;
