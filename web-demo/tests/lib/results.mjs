// Named checks with a pass/fail tally. A check passes when its function
// returns null/undefined/true and fails with the returned string or a thrown error.
export class Results {
  constructor() {
    this.passed = 0;
    this.failed = 0;
    this.skipped = [];
  }

  /** A check whose gateway feature is missing. Every feature these checks
   *  need has landed, so a missing one is a regression: it counts as a failure
   *  (tests never skip silently). */
  skip(suite, name, reason) {
    this.skipped.push(`[${suite}] ${name}: ${reason}`);
    this.record(suite, name, false, `gateway feature missing: ${reason}`);
  }

  record(suite, name, ok, detail = '') {
    if (ok) {
      this.passed++;
      console.log(`ok   [${suite}] ${name}`);
    } else {
      this.failed++;
      console.log(`FAIL [${suite}] ${name}: ${detail}`);
    }
  }

  /** Runs one check; never throws. */
  async check(suite, name, fn) {
    try {
      const r = await fn();
      if (r === undefined || r === null || r === true) this.record(suite, name, true);
      else this.record(suite, name, false, r === false ? 'check returned false' : String(r));
    } catch (e) {
      this.record(suite, name, false, String((e && e.stack) || e));
    }
  }

  /** A suite that could not run at all counts as one failure. */
  fatal(suite, e) {
    this.record(suite, '(suite setup)', false, String((e && e.stack) || e));
  }
}

/** '' when equal (deep, JSON-wise), else a readable difference. */
export function diff(got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  return g === w ? null : `got ${g}, want ${w}`;
}
