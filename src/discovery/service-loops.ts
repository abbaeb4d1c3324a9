import type { Logger } from '../core/logger.js';
import type { Registry, WantedService } from './registry.js';

/**
 * A registry asked per service (consul's blocking queries, dns's lookups): one loop per
 * wanted service, started when the configuration names it and aborted when it no longer
 * does. `run` returns when its signal aborts (or has nothing more to ask); it reports its
 * own failures.
 */
export class ServiceLoops implements Registry {
  private readonly loops = new Map<string, AbortController>();

  constructor(private readonly run: (service: WantedService, signal: AbortSignal) => Promise<void>, private readonly log: Logger) {}

  want(services: readonly WantedService[]): void {
    const keys = new Set(services.map((s) => s.key));
    for (const [key, loop] of this.loops) {
      if (keys.has(key)) continue;
      loop.abort();
      this.loops.delete(key);
    }
    for (const s of services) {
      if (this.loops.has(s.key)) continue;
      const loop = new AbortController();
      this.loops.set(s.key, loop);
      this.run(s, loop.signal).catch((err: unknown) => {
        // a loop reports its failures and goes on; reaching here is a bug, not the registry's doing
        this.log.error({ err, service: s.key }, 'discovery loop stopped');
      });
    }
  }

  close(): void {
    for (const loop of this.loops.values()) loop.abort();
    this.loops.clear();
  }
}
