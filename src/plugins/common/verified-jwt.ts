// The JWT an auth plugin (jwt-auth, oauth) verified on this request, handed to the
// plugins that run after it (jwt-logout): they act on exactly the token whose signature
// was checked, wherever it was read from and even when the auth plugin hid it from the
// upstream (`hide_credentials`, `keep_token: false`).
import type { JWTPayload } from 'jose';
import type { PluginContext } from '../../contracts/plugin.js';

export interface VerifiedJwt {
  /** The compact token as presented. */
  token: string;
  claims: JWTPayload;
  /** Until when (ms since the epoch) the verifying plugin would accept it, its leeway included; undefined: no `exp`. */
  validUntilMs: number | undefined;
}

const KEY = 'verified_jwt';

export function shareVerifiedJwt(ctx: PluginContext, jwt: VerifiedJwt): void {
  ctx.shared.set(KEY, jwt);
}

/** The token an auth plugin verified on this request, if any. */
export function verifiedJwt(ctx: PluginContext): VerifiedJwt | undefined {
  return ctx.shared.get(KEY) as VerifiedJwt | undefined;
}
