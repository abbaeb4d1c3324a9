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

  it('is not ready while a worker or the primary cannot accept connections, and names why', () => {
    const blocked = { ...w(1, 7), acceptBlocked: 'too many open files (EMFILE)' };
    const src = { ...source(2, 7, [w(0, 7), blocked]), primaryProblem: () => 'the primary (pid 1) cannot accept connections: too many open files (EMFILE)' };
    const r = readiness(src);
    assert.equal(r.ready, false);
    assert.deepEqual(r.problems, [
      'the primary (pid 1) cannot accept connections: too many open files (EMFILE)',
      'worker 1 (pid 101) cannot accept connections: too many open files (EMFILE)',
    ]);
    assert.equal(readiness(source(2, 7, [w(0, 7), w(1, 7)])).ready, true);
  });
});
