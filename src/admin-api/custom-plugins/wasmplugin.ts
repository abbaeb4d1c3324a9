// A Higress `WasmPlugin` resource (extensions.higress.io/v1alpha1) read and mapped onto the
// marketplace's fields and one plugin configuration (issue 11 §5, proxy-wasm.md §7).
// Pure: fetching the binary and publishing happen in import.ts.
import { parseAllDocuments } from 'yaml';
import { STAGE_ALIASES, type Stage } from '../../contracts/plugin.js';
import { badRequest } from '../errors.js';

type Obj = Record<string, unknown>;

export const WASMPLUGIN_API_VERSION = 'extensions.higress.io/v1alpha1';

/**
 * Higress's phases onto our stages by position, as everywhere in Gatehouse (STAGE_ALIASES):
 * AUTHN runs first in Higress, so it is our first stage (the seeds call it Authorization),
 * AUTHZ the second, then STATS, then UNSPECIFIED_PHASE.
 */
const PHASE_STAGES: Record<string, Stage> = {
  AUTHN: STAGE_ALIASES.AUTHN!, AUTHZ: STAGE_ALIASES.AUTHZ!, STATS: STAGE_ALIASES.STATS!, UNSPECIFIED_PHASE: STAGE_ALIASES.UNSPECIFIED_PHASE!,
};

// The conventions of Higress's console for what the CRD itself has no field for.
const TITLE_KEY = 'higress.io/wasm-plugin-title';
const DESCRIPTION_KEY = 'higress.io/wasm-plugin-description';
const VERSION_KEY = 'higress.io/wasm-plugin-version';
const LANGUAGE_KEY = 'higress.io/wasm-plugin-language';

/** Spec fields a Higress controller acts on that we either map or refuse; anything else is refused as unknown. */
const SPEC_FIELDS = new Set([
  'url', 'sha256', 'imagePullPolicy', 'imagePullSecret', 'verificationKey', 'pluginName', 'phase', 'priority',
  'failStrategy', 'vmConfig', 'defaultConfig', 'defaultConfigDisable', 'matchRules', 'pluginConfig',
]);
const RULE_FIELDS = new Set(['ingress', 'domain', 'service', 'config', 'configDisable', 'routeType']);

export interface MappedWasmPlugin {
  id: string;
  url: string;
  /** Lower-case hex, when the resource pins the binary. */
  sha256?: string;
  /** The version the resource names (label/annotation); otherwise chosen from the url or digest. */
  version?: string;
  /** Marketplace fields: name, description, language, stage, priority, root_id, fail_strategy. */
  fields: Obj;
  /** The plugin configuration the global rule binds (`_rules_` from matchRules). */
  configuration: Obj;
  /** spec.imagePullPolicy as given (UNSPECIFIED_POLICY when absent). */
  pullPolicy: PullPolicy;
}

export type PullPolicy = 'UNSPECIFIED_POLICY' | 'IfNotPresent' | 'Always';
const PULL_POLICIES: readonly PullPolicy[] = ['UNSPECIFIED_POLICY', 'IfNotPresent', 'Always'];

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The documents of a YAML (or JSON, a subset of YAML) text; empty documents are skipped. */
export function parseResourceDocuments(text: string): unknown[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const [i, doc] of list.entries()) {
    if (doc.errors.length > 0) throw badRequest(`invalid body: document ${i + 1} is not valid YAML or JSON: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function stringField(obj: Obj, key: string, path: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw badRequest(`invalid field ${path}: expected a non-empty string`);
  return v;
}

function stringList(v: unknown, path: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s === '')) {
    throw badRequest(`invalid field ${path}: expected a list of non-empty strings`);
  }
  return v.length === 0 ? undefined : v as string[];
}

/** Maps one resource; throws a 400 naming the field for anything it cannot honour. */
export function mapWasmPlugin(resource: unknown): MappedWasmPlugin {
  if (!isObject(resource)) throw badRequest('invalid body: expected a WasmPlugin resource (an object)');
  if (resource.apiVersion !== WASMPLUGIN_API_VERSION) {
    throw badRequest(`invalid field apiVersion: expected ${WASMPLUGIN_API_VERSION}, got ${JSON.stringify(resource.apiVersion)}`);
  }
  if (resource.kind !== 'WasmPlugin') throw badRequest(`invalid field kind: expected WasmPlugin, got ${JSON.stringify(resource.kind)}`);
  const metadata = isObject(resource.metadata) ? resource.metadata : {};
  const id = stringField(metadata, 'name', 'metadata.name');
  if (id === undefined) throw badRequest('missing field metadata.name: it becomes the plugin id');
  if (!isObject(resource.spec)) throw badRequest('missing field spec');
  const spec = resource.spec;
  for (const k of Object.keys(spec)) {
    if (!SPEC_FIELDS.has(k)) throw badRequest(`unknown field spec.${k}`);
  }
  const url = stringField(spec, 'url', 'spec.url');
  if (url === undefined) throw badRequest('missing field spec.url: where the .wasm is (oci://, http(s)://, file://)');
  if (spec.imagePullSecret !== undefined && spec.imagePullSecret !== '') {
    throw badRequest('unsupported field spec.imagePullSecret: only registries that allow anonymous pulls can be imported from');
  }
  if (spec.verificationKey !== undefined && spec.verificationKey !== '') {
    throw badRequest('unsupported field spec.verificationKey: pin the binary with spec.sha256 instead');
  }
  if (spec.pluginConfig !== undefined) {
    throw badRequest('unsupported field spec.pluginConfig: use spec.defaultConfig (Higress) instead of Istio\'s pluginConfig');
  }
  checkVmConfig(spec.vmConfig);
  let sha256 = stringField(spec, 'sha256', 'spec.sha256')?.toLowerCase();
  if (sha256 !== undefined) {
    sha256 = sha256.replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw badRequest('invalid field spec.sha256: expected 64 hex digits');
  }
  const fields: Obj = {
    stage: mapPhase(spec.phase),
    priority: mapPriority(spec.priority),
    root_id: stringField(spec, 'pluginName', 'spec.pluginName') ?? id,
    fail_strategy: mapFailStrategy(spec.failStrategy),
    language: 'unknown',
  };
  const annotations = isObject(metadata.annotations) ? metadata.annotations : {};
  const labels = isObject(metadata.labels) ? metadata.labels : {};
  const meta = (key: string): string | undefined => {
    const v = annotations[key] ?? labels[key];
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  const title = meta(TITLE_KEY);
  if (title !== undefined) fields.name = title;
  const description = meta(DESCRIPTION_KEY);
  if (description !== undefined) fields.description = description;
  const language = meta(LANGUAGE_KEY);
  if (language !== undefined) fields.language = language;
  const pullPolicy = spec.imagePullPolicy ?? 'UNSPECIFIED_POLICY';
  if (!(PULL_POLICIES as readonly unknown[]).includes(pullPolicy)) {
    throw badRequest(`invalid field spec.imagePullPolicy: expected ${PULL_POLICIES.join(', ')}, got ${JSON.stringify(pullPolicy)}`);
  }
  const out: MappedWasmPlugin = { id, url, fields, configuration: mapConfiguration(spec), pullPolicy: pullPolicy as PullPolicy };
  if (sha256 !== undefined) out.sha256 = sha256;
  const version = meta(VERSION_KEY);
  if (version !== undefined) out.version = version;
  return out;
}

function checkVmConfig(vmConfig: unknown): void {
  if (vmConfig === undefined || vmConfig === null) return;
  if (!isObject(vmConfig)) throw badRequest('invalid field spec.vmConfig: expected an object');
  for (const k of Object.keys(vmConfig)) {
    if (k === 'env' && Array.isArray(vmConfig.env) && vmConfig.env.length === 0) continue;
    if (k === 'env') {
      throw badRequest('unsupported field spec.vmConfig.env: custom plugins get no WASI environment variables in this gateway');
    }
    throw badRequest(`unknown field spec.vmConfig.${k}`);
  }
}

function mapPhase(phase: unknown): Stage {
  if (phase === undefined || phase === null) return 'default';
  const stage = typeof phase === 'string' ? PHASE_STAGES[phase] : undefined;
  if (stage === undefined) {
    throw badRequest(`invalid field spec.phase: expected one of ${Object.keys(PHASE_STAGES).join(', ')}, got ${JSON.stringify(phase)}`);
  }
  return stage;
}

function mapPriority(priority: unknown): number {
  if (priority === undefined || priority === null) return 0;
  // protobuf's JSON form allows an int32 as a string
  const n = typeof priority === 'string' && /^-?[0-9]+$/.test(priority) ? Number(priority) : priority;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
    throw badRequest(`invalid field spec.priority: expected a 32-bit integer, got ${JSON.stringify(priority)}`);
  }
  return n;
}

function mapFailStrategy(strategy: unknown): 'FAIL_CLOSE' | 'FAIL_OPEN' {
  if (strategy === undefined || strategy === null) return 'FAIL_CLOSE';
  if (strategy !== 'FAIL_CLOSE' && strategy !== 'FAIL_OPEN') {
    throw badRequest(`invalid field spec.failStrategy: expected FAIL_CLOSE or FAIL_OPEN, got ${JSON.stringify(strategy)}`);
  }
  return strategy;
}

/** defaultConfig (unless disabled) plus `_rules_` from matchRules: the JSON Higress's controller hands the plugin. */
export function mapConfiguration(spec: Obj): Obj {
  const disable = spec.defaultConfigDisable;
  if (disable !== undefined && disable !== null && typeof disable !== 'boolean') {
    throw badRequest('invalid field spec.defaultConfigDisable: expected true or false');
  }
  const defaults = spec.defaultConfig;
  if (defaults !== undefined && defaults !== null && !isObject(defaults)) throw badRequest('invalid field spec.defaultConfig: expected an object');
  if (isObject(defaults) && Object.hasOwn(defaults, '_rules_')) {
    throw badRequest('invalid field spec.defaultConfig._rules_: rules come from spec.matchRules');
  }
  const conf: Obj = disable === true || !isObject(defaults) ? {} : { ...defaults };
  const matchRules = spec.matchRules;
  if (matchRules === undefined || matchRules === null) return conf;
  if (!Array.isArray(matchRules)) throw badRequest('invalid field spec.matchRules: expected a list');
  const rules = matchRules.map((r, i) => mapRule(r, `spec.matchRules[${i}]`));
  if (rules.length > 0) conf._rules_ = rules;
  return conf;
}

function mapRule(rule: unknown, path: string): Obj {
  if (!isObject(rule)) throw badRequest(`invalid field ${path}: expected an object`);
  for (const k of Object.keys(rule)) {
    if (!RULE_FIELDS.has(k)) throw badRequest(`unknown field ${path}.${k}`);
  }
  if (rule.routeType !== undefined && rule.routeType !== null && rule.routeType !== 'HTTP') {
    throw badRequest(`unsupported field ${path}.routeType: only HTTP rules can be imported, got ${JSON.stringify(rule.routeType)}`);
  }
  if (rule.configDisable === true) {
    throw badRequest(`unsupported field ${path}.configDisable: the gateway's _rules_ have no per-rule disable; `
      + 'leave the rule out, or bind the plugin only where it applies');
  }
  if (rule.configDisable !== undefined && rule.configDisable !== null && rule.configDisable !== false) {
    throw badRequest(`invalid field ${path}.configDisable: expected true or false`);
  }
  const out: Obj = {};
  const routes = stringList(rule.ingress, `${path}.ingress`);
  const domains = stringList(rule.domain, `${path}.domain`);
  const services = stringList(rule.service, `${path}.service`);
  if (routes === undefined && domains === undefined && services === undefined) {
    throw badRequest(`invalid field ${path}: a rule needs ingress, domain or service`);
  }
  if (routes !== undefined) out._match_route_ = routes;
  if (domains !== undefined) out._match_domain_ = domains;
  if (services !== undefined) out._match_service_ = services;
  const config = rule.config;
  if (config !== undefined && config !== null) {
    if (!isObject(config)) throw badRequest(`invalid field ${path}.config: expected an object`);
    for (const [k, v] of Object.entries(config)) {
      if (k.startsWith('_match_') || k === '_rules_') throw badRequest(`invalid field ${path}.config.${k}: a reserved key`);
      out[k] = v;
    }
  }
  return out;
}
