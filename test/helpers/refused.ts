/** The one rule for bad input at the command line: exit 2, one short line naming the problem, no stack trace. */
import assert from 'node:assert/strict';

export function refused(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  const line = r.stderr.trim();
  assert.equal(r.code, 2, `exit status (stderr: ${line.slice(0, 600)})`);
  assert.ok(!line.includes('\n') && !/\n\s+at /.test(r.stderr), `one line, no stack trace: ${line.slice(0, 600)}`);
  assert.ok(line.length < 400, `a short line (${line.length} characters)`);
  assert.match(line, pattern);
}
