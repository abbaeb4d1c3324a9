// The publish form's text fields turned into the fields of a CustomPlugin, and the rules
// shared by publish and PATCH (the gateway version a plugin needs to be enabled).
import { AdminError, badRequest } from '../errors.js';

type Obj = Record<string, unknown>;

/** The fields of the publish form (the seeds' console), besides the `file` part. */
export const FORM_FIELDS = [
  'id', 'name', 'description', 'version', 'version_description', 'language', 'stage', 'priority',
  'gateway_version', 'root_id', 'fail_strategy', 'enabled', 'configuration',
] as const;

/** What PATCH may change; only `enabled` and `version` while the plugin is enabled. */
export const PATCH_FIELDS = ['name', 'description', 'language', 'stage', 'priority', 'gateway_version', 'root_id', 'fail_strategy', 'enabled', 'version'] as const;
export const PATCH_WHILE_ENABLED = new Set(['enabled', 'version', 'id']);

export interface PublishForm {
  id?: string;
  /** Plugin-level fields given (absent ones keep the stored value or take the default). */
  fields: Obj;
  version?: string;
  versionDescription?: string;
  /** The configuration the check hands to proxy_on_configure. */
  configuration: Buffer;
}

/**
 * Reads the text fields. An empty value counts as not given (browsers send every input
 * of a form); an unknown field is refused rather than silently dropped.
 */
export function parsePublishFields(raw: Map<string, string>): PublishForm {
  for (const name of raw.keys()) {
    if (!(FORM_FIELDS as readonly string[]).includes(name)) {
      throw badRequest(`unknown field ${name} (the publish form has file, ${FORM_FIELDS.join(', ')})`);
    }
  }
  const given = (k: string): string | undefined => {
    const v = raw.get(k);
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const fields: Obj = {};
  for (const k of ['name', 'description', 'language', 'stage', 'gateway_version', 'root_id', 'fail_strategy'] as const) {
    const v = given(k);
    if (v !== undefined) fields[k] = v;
  }
  const priority = given('priority');
  if (priority !== undefined) {
    if (!/^-?[0-9]{1,9}$/.test(priority)) throw badRequest(`invalid field priority: expected an integer, got ${JSON.stringify(priority)}`);
    fields.priority = Number(priority);
  }
  const enabled = given('enabled');
  if (enabled !== undefined) {
    if (enabled !== 'true' && enabled !== 'false') throw badRequest(`invalid field enabled: expected true or false, got ${JSON.stringify(enabled)}`);
    fields.enabled = enabled === 'true';
  }
  const configuration = given('configuration') ?? '{}';
  try {
    JSON.parse(configuration);
  } catch (e) {
    throw badRequest(`invalid field configuration: not JSON: ${(e as Error).message}`);
  }
  const out: PublishForm = { fields, configuration: Buffer.from(configuration) };
  const id = given('id');
  if (id !== undefined) out.id = id;
  const version = given('version');
  if (version !== undefined) out.version = version;
  const vd = given('version_description');
  if (vd !== undefined) out.versionDescription = vd;
  return out;
}

/** Negative, zero or positive as `a` is older, equal or newer than `b` (x.y.z, numeric parts). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Refuses to enable a plugin that declares a newer gateway than this one. */
export function checkGatewayVersion(id: string, value: Obj, gatewayVersion: string): void {
  if (value.enabled !== true) return;
  const needs = value.gateway_version;
  if (typeof needs !== 'string' || needs === 'any') return;
  // a pre-release or build suffix of this gateway does not count against the x.y.z it is
  const current = /^[0-9]+\.[0-9]+\.[0-9]+/.exec(gatewayVersion)?.[0] ?? '0.0.0';
  if (compareVersions(needs, current) > 0) {
    throw new AdminError(400, `custom plugin ${id} needs gateway >= ${needs}, this gateway is ${gatewayVersion}: publish it disabled, or upgrade the gateway`);
  }
}
