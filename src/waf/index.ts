// The WAF's entry point: a rule set per configuration (compiled once and cached, since the
// CRS takes a while to compile), and a transaction per request.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_RULES, MINIMAL_CRS_SETUP } from './default-rules.js';
import { Transaction } from './engine.js';
import { type LoadedRuleSet, RuleSetBuilder } from './loader.js';
import { RequestData, type WafRequest } from './request-data.js';
import { SecLangError } from './seclang.js';

export { Transaction, type Interruption, type RuleMatch } from './engine.js';
export type { LoadedRuleSet } from './loader.js';
export type { WafRequest } from './request-data.js';
export { SecLangError } from './seclang.js';

export const DEBIAN_CRS_PATH = '/usr/share/modsecurity-crs';
/** Debian keeps the CRS's editable setup and exclusion files here, beside the package's rules. */
const DEBIAN_CRS_ETC = '/etc/modsecurity/crs';

export interface WafRuleOptions {
  useCRS: boolean;
  secRules: readonly string[];
  crsPath: string;
}

/** Thrown for a bad `secRules` entry: `field` names it (`secRules[3]`). */
export class WafConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/** CRS setup ids (900000–900999): entries of secRules made of these go before the CRS, as crs-setup.conf does. */
function isCrsSetupEntry(text: string): boolean {
  return /^\s*SecAction\b/i.test(text) && /(?:^|[",\s])id:\s*'?900\d{3}\b/.test(text);
}

function crsSetup(crsPath: string): { text: string; name: string } {
  for (const file of [path.join(crsPath, 'crs-setup.conf'), path.join(crsPath, 'crs-setup.conf.example')]) {
    if (existsSync(file)) return { text: readFileSync(file, 'latin1'), name: file };
  }
  const debian = path.join(DEBIAN_CRS_ETC, 'crs-setup.conf');
  if (path.resolve(crsPath) === DEBIAN_CRS_PATH && existsSync(debian)) return { text: readFileSync(debian, 'latin1'), name: debian };
  return { text: MINIMAL_CRS_SETUP, name: 'built-in crs-setup' };
}

function addUserRules(builder: RuleSetBuilder, rules: readonly string[], pick: (text: string) => boolean): void {
  rules.forEach((text, i) => {
    if (!pick(text)) return;
    const field = `secRules[${i}]`;
    try {
      builder.add({ text, name: field, baseDir: undefined, skipUnsupported: false, perEntry: true });
    } catch (err) {
      const message = (err as Error).message;
      throw new WafConfigError(field, message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message);
    }
  });
}

function build(opts: WafRuleOptions): LoadedRuleSet {
  const crsPath = path.resolve(opts.crsPath);
  const builder = new RuleSetBuilder(crsPath);
  if (opts.useCRS) {
    if (!existsSync(path.join(crsPath, 'rules'))) {
      throw new WafConfigError('crsPath', `no CRS rules at ${crsPath}/rules (install Debian's modsecurity-crs package, or set crsPath)`);
    }
    const setup = crsSetup(crsPath);
    builder.add({ text: setup.text, name: setup.name, baseDir: path.dirname(setup.name), skipUnsupported: true });
    addUserRules(builder, opts.secRules, isCrsSetupEntry);
    const include = (spec: string, optional: boolean): void => builder.add({
      text: `${optional ? 'IncludeOptional' : 'Include'} ${spec}`, name: 'crs', baseDir: crsPath, skipUnsupported: true,
    });
    if (crsPath === DEBIAN_CRS_PATH) include(`${DEBIAN_CRS_ETC}/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf`, true);
    include(path.join(crsPath, 'rules', '*.conf'), false);
    if (crsPath === DEBIAN_CRS_PATH) include(`${DEBIAN_CRS_ETC}/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf`, true);
    addUserRules(builder, opts.secRules, (t) => !isCrsSetupEntry(t));
  } else {
    builder.add({ text: DEFAULT_RULES, name: 'default-rules', baseDir: undefined, skipUnsupported: false });
    addUserRules(builder, opts.secRules, () => true);
  }
  try {
    return builder.build();
  } catch (err) {
    if (err instanceof SecLangError) {
      const field = /^(secRules\[\d+\])/.exec(err.message)?.[1] ?? 'secRules';
      throw new WafConfigError(field, err.message.replace(/^secRules\[\d+\]: /, ''));
    }
    throw err;
  }
}

const MAX_CACHED = 32;
const cache = new Map<string, LoadedRuleSet>();

/** The compiled rule set for a configuration; the same configuration compiles once. */
export function loadWafRules(opts: WafRuleOptions): LoadedRuleSet {
  const key = JSON.stringify([opts.useCRS, path.resolve(opts.crsPath), opts.secRules]);
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key); // most recently used last
    cache.set(key, hit);
    return hit;
  }
  const built = build(opts);
  cache.set(key, built);
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
  return built;
}

/** Starts evaluating one request against a rule set. */
export function startTransaction(ruleSet: LoadedRuleSet, req: WafRequest): Transaction {
  return new Transaction(ruleSet, new RequestData(req));
}
