import { CounterService } from '../../src/counters/counter-service.js';
import { CounterTable, LocalCounterStore } from '../../src/counters/counter-table.js';
import { IpcCounterStore } from '../../src/counters/ipc-store.js';
import { channelTo } from '../helpers/counter-channel.js';
import { counterStoreContract } from './counter-store.contract.js';

function manualClock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

counterStoreContract('local', () => {
  const clock = manualClock();
  const store = new LocalCounterStore(new CounterTable(clock.now));
  return { a: store, b: store, advance: clock.advance };
});

counterStoreContract('ipc (two workers, the primary\'s service)', () => {
  const clock = manualClock();
  const svc = new CounterService(new CounterTable(clock.now), { workers: () => 2 });
  return {
    a: new IpcCounterStore(channelTo(svc, 1)),
    b: new IpcCounterStore(channelTo(svc, 2)),
    advance: clock.advance,
  };
});
