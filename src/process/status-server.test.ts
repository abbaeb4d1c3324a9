import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readiness, type StatusSource, type WorkerStatus } from './status-server.js';

const source = (expected: number, revision: number, workers: WorkerStatus[]): StatusSource =>
  ({ expectedWorkers: () => expected, revision: () => revision, workers: () => workers.map((w) => ({ ...w })) });
const w = (index: number, revision: number, listening = true): WorkerStatus => ({ index, pid: 100 + index, revision, listening });

describe('readiness', () => {
  it('is ready when every expected worker listens at the newest revision', () => {
    const r = readiness(source(2, 5, [w(1, 5), w(0, 5)]));
    assert.equal(r.ready, true);
    assert.deepEqual(r.workers.map((x) => x.index), [0, 1]);
  });

  it('names lagging, starting and missing workers', () => {
    const r = readiness(source(3, 7, [w(0, 6), w(1, 7, false)]));
    assert.equal(r.ready, false);
    assert.deepEqual(r.problems, [
      'worker 2 is not running',
      'worker 0 (pid 100) is at revision 6, expected 7',
      'worker 1 (pid 101) is starting',
    ]);
  });
});
