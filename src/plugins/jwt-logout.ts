// jwt-logout: revocation of the JWTs consumers present. It acts on the token an auth
// plugin bound before it (jwt-auth at 340, oauth at 350; it runs at 50) verified on this
// request, never on an unverified one: a request to `logout_path` (by one of
// `logout_methods`) revokes that token — by its `jti`, else by a SHA-256 of the whole
// token, scoped to the consumer it identified so no consumer can revoke another's token
// with a forged `jti` — until it expires (`exp` plus the verifying plugin's leeway;
// `ttl_without_exp` for a token without `exp`). Every later request with it, on any route
// bound with jwt-logout and the same revocation list, gets 401.
//
// The revocation list is kept where the counters are (src/counters, KeyMarks): policy
// `local` in the primary of the node, shared by all its workers; `redis` and
// `redis-cluster` in Redis, shared by every node (same fields as limit-count). A list
// that cannot answer fails the request with 503, or lets it pass with
// `allow_degradation` (a logout itself is never reported done unless stored).
import { createHash } from 'node:crypto';
import type { CounterStore, KeyMarks } from '../contracts/counter-store.js';
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { unauthorized } from './common/auth.js';
import { counterFailure, policyCounters, storeOf, withRedisPolicies, type PolicyCounters, type RedisPolicyConf } from './common/redis-policy.js';
import { verifiedJwt, type VerifiedJwt } from './common/verified-jwt.js';

export interface JwtLogoutConf extends RedisPolicyConf {
  logout_path: string;
  logout_methods: string[];
  ttl_without_exp: number;
  clear_cookie?: string;
  allow_degradation: boolean;
}

interface JwtLogoutPrepared {
  logoutPath: string;
  methods: ReadonlySet<string>;
  ttlWithoutExpMs: number;
  clearCookie: string | undefined;
  degrade: boolean;
  counters: PolicyCounters;
}

/** For access logs: `logged_out`, `revoked` (refused), `passed`, or `no_token` (no verified JWT on the request). */
registerVariable('jwt_logout_result');

const loggedOut = counter('gatehouse_jwt_logout_revocations_total', 'Tokens revoked through a jwt-logout logout path', []);
const refusedRevoked = counter('gatehouse_jwt_logout_refused_total', 'Requests jwt-logout refused because their token was revoked', []);

const CHALLENGE = 'Bearer error="invalid_token", error_description="The token has been revoked"';
const UNAVAILABLE: PhaseResult = { status: 503, body: { message: 'the revocation list is unavailable' } };

function marksOf(c: PolicyCounters): KeyMarks {
  const store = storeOf(c) as CounterStore & Partial<KeyMarks>;
  if (typeof store.mark !== 'function' || typeof store.isMarked !== 'function') {
    throw new Error('the counter store in use keeps no marks');
  }
  return store as KeyMarks;
}

/**
 * The token's entry in the revocation list: a hash of the consumer and the token's `jti`
 * (or of the token itself), so neither tokens nor ids are stored and keys are of one size.
 */
export function revocationKey(consumer: string, jwt: Pick<VerifiedJwt, 'token' | 'claims'>): string {
  const jti = jwt.claims.jti;
  const what = typeof jti === 'string' && jti !== '' ? `jti\u0000${jti}` : `token\u0000${jwt.token}`;
  return 'jwt-logout:' + createHash('sha256').update(`${consumer}\u0000${what}`).digest('base64url');
}

async function logout(p: JwtLogoutPrepared, ctx: PluginContext, marks: KeyMarks, key: string, jwt: VerifiedJwt): Promise<PhaseResult> {
  const ttlMs = jwt.validUntilMs === undefined ? p.ttlWithoutExpMs : jwt.validUntilMs - Date.now();
  // a token already past its end is refused by its auth plugin from now on: nothing to store
  if (ttlMs > 0) {
    try {
      await marks.mark(key, ttlMs);
    } catch (err) {
      return counterFailure('jwt-logout', p.counters, false, ctx, err, UNAVAILABLE)!;
    }
  }
  ctx.setVar('jwt_logout_result', 'logged_out');
  loggedOut.inc();
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (p.clearCookie !== undefined) headers['Set-Cookie'] = `${p.clearCookie}=; Max-Age=0; Path=/; HttpOnly`;
  return { status: 200, body: { message: 'logged out' }, headers };
}

export default definePlugin<JwtLogoutConf, JwtLogoutPrepared>({
  name: 'jwt-logout',
  description: 'Revokes consumers\' JWTs at a logout path until they expire; bound with jwt-auth or oauth, a revoked token gets 401 on every later request.',
  version: '0.1',
  stage: 'authorization',
  priority: 50,
  schema: withRedisPolicies({
    type: 'object',
    additionalProperties: false,
    properties: {
      logout_path: { type: 'string', minLength: 1, pattern: '^/', default: '/logout' },
      logout_methods: {
        type: 'array', minItems: 1, uniqueItems: true, default: ['POST'],
        items: { type: 'string', enum: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] },
      },
      ttl_without_exp: { type: 'integer', minimum: 1, default: 86_400 },
      clear_cookie: { type: 'string', pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" },
      allow_degradation: { type: 'boolean', default: false },
    },
  }),

  prepare(conf) {
    return {
      logoutPath: conf.logout_path ?? '/logout',
      methods: new Set(conf.logout_methods ?? ['POST']),
      ttlWithoutExpMs: (conf.ttl_without_exp ?? 86_400) * 1000,
      clearCookie: conf.clear_cookie,
      degrade: conf.allow_degradation === true,
      counters: policyCounters(conf),
    };
  },

  async rewrite(p, ctx): Promise<PhaseResult | undefined> {
    const isLogout = p.methods.has(ctx.request.method) && ctx.request.uri.endsWith(p.logoutPath);
    const jwt = verifiedJwt(ctx);
    if (jwt === undefined) {
      ctx.setVar('jwt_logout_result', 'no_token');
      // nothing verified to revoke: jwt-logout is bound without jwt-auth/oauth, or they let an anonymous consumer through
      return isLogout ? unauthorized('Missing verified JWT token in request', 'Bearer') : undefined;
    }
    const key = revocationKey(ctx.consumer?.username ?? '', jwt);
    const marks = marksOf(p.counters);
    let revoked: boolean;
    try {
      revoked = await marks.isMarked(key);
    } catch (err) {
      return counterFailure('jwt-logout', p.counters, p.degrade, ctx, err, UNAVAILABLE);
    }
    if (revoked) {
      ctx.setVar('jwt_logout_result', 'revoked');
      refusedRevoked.inc();
      return unauthorized('JWT token has been revoked', CHALLENGE);
    }
    if (isLogout) return logout(p, ctx, marks, key, jwt);
    ctx.setVar('jwt_logout_result', 'passed');
    return undefined;
  },
});
