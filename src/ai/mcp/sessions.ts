// MCP sessions (the Mcp-Session-Id header). A client's requests land on any worker of the
// node, so the session table is the node's, kept by the primary (its own table among the
// memory tables of src/ai/cache/answer-store.ts), not a worker's: a session
// opened through one worker is known to all, and a DELETE through any worker ends it for
// all. Ids are 192 random bits, bound to the route that issued them. A session unused for
// SESSION_IDLE_SECONDS ends; the table is bounded (least recently used entries go first),
// so on a node whose table is full a long-idle session may end early: the client then gets
// 404 and, as the spec asks of it, initializes again.
import { randomBytes } from 'node:crypto';
import { memoryAnswerStore, type AnswerStore } from '../cache/answer-store.js';

export const SESSION_IDLE_SECONDS = 3600;
/** How long an ended session's tombstone is kept: ended ids are not reused, so a short one does. */
const ENDED_SECONDS = 1;
const OPEN = 'open';

export class McpSessions {
  constructor(private readonly store: AnswerStore = memoryAnswerStore('mcp-server')) {}

  private key(routeId: string, id: string): string {
    return `mcp-session\u0000${routeId}\u0000${id}`;
  }

  async open(routeId: string): Promise<string> {
    const id = randomBytes(24).toString('base64url');
    await this.store.set(this.key(routeId, id), OPEN, SESSION_IDLE_SECONDS);
    return id;
  }

  /** Whether `id` is an open session of the route; a known one's idle time starts again. */
  async touch(routeId: string, id: string): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(id)) return false;
    const key = this.key(routeId, id);
    if (await this.store.get(key) !== OPEN) return false;
    await this.store.set(key, OPEN, SESSION_IDLE_SECONDS);
    return true;
  }

  async end(routeId: string, id: string): Promise<boolean> {
    if (!await this.touch(routeId, id)) return false;
    await this.store.set(this.key(routeId, id), 'ended', ENDED_SECONDS);
    return true;
  }
}
