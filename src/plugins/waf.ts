// waf: a ModSecurity-compatible web application firewall (Higress's waf fields). `{}` runs
// the project's own blocking rules; `useCRS: true` loads the OWASP Core Rule Set from
// Debian's modsecurity-crs package (`crsPath`) with anomaly scoring; `secRules` adds
// SecLang directives. The engine is src/waf/ (RE2 for every regex, linear-time detectors).
// Phase 1 runs on the request's headers; phase 2 on its body, read through the bounded
// request-body API only when the request has one. Phases 3–5 (response) are not evaluated.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { logger } from '../core/logger.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { DEBIAN_CRS_PATH, type Interruption, type LoadedRuleSet, loadWafRules, startTransaction, type Transaction, type WafRequest } from '../waf/index.js';

export interface WafConf {
  useCRS: boolean;
  secRules?: string[];
  crsPath: string;
}

for (const name of ['waf_action', 'waf_rule_id', 'waf_msg', 'waf_anomaly_score', 'waf_matched_rules']) registerVariable(name);

const blocks = counter('gatehouse_waf_blocks_total', 'Requests the waf plugin refused, by the rule that refused them', ['rule_id']);
const detections = counter('gatehouse_waf_detections_total',
  'Requests a DetectionOnly waf would have refused, by rule', ['rule_id']);

/** Rule sets whose skipped rules were already logged (each configuration logs once). */
const reported = new WeakSet<LoadedRuleSet>();

function reportOnce(rules: LoadedRuleSet): void {
  if (reported.has(rules)) return;
  reported.add(rules);
  if (rules.skipped.length > 0 || rules.notes.length > 0) {
    logger().warn({ skipped: rules.skipped, notes: rules.notes, rules: rules.ruleCount }, `waf: ${rules.skipped.length} rule(s) not loaded`);
  }
}

function hasBody(ctx: PluginContext): boolean {
  const length = ctx.request.header('content-length');
  return (length !== undefined && length !== '0') || ctx.request.header('transfer-encoding') !== undefined;
}

function setVars(ctx: PluginContext, tx: Transaction, action: string, ruleId: number | undefined, msg: string): void {
  ctx.setVar('waf_action', action);
  if (ruleId !== undefined) ctx.setVar('waf_rule_id', String(ruleId));
  if (msg !== '') ctx.setVar('waf_msg', msg);
  // CRS keeps the total in tx.anomaly_score (3.3) / tx.blocking_inbound_anomaly_score (4.x).
  const score = tx.txNumber('anomaly_score') || tx.txNumber('blocking_inbound_anomaly_score');
  ctx.setVar('waf_anomaly_score', score);
  if (tx.matches.length > 0) ctx.setVar('waf_matched_rules', tx.matches.map((m) => m.id).join(','));
}

/**
 * The request as the engine reads it, from the plugin context: one object per request, its
 * less used parts (a request id may have to be made) looked up only when a rule reads them.
 */
class ContextRequest implements WafRequest {
  readonly method: string;
  readonly rawUri: string;
  readonly remoteAddr: string;
  readonly host: string;
  readonly startedAt: number;
  private all: Record<string, string> | undefined;

  constructor(private readonly ctx: PluginContext) {
    const uri = ctx.var('request_uri');
    this.method = ctx.request.method;
    this.rawUri = typeof uri === 'string' ? uri : ctx.request.uri;
    this.remoteAddr = ctx.request.remoteAddr;
    this.host = ctx.request.host;
    this.startedAt = ctx.startedAt;
  }

  get protocol(): string { return `HTTP/${String(this.ctx.var('server_protocol') ?? 'HTTP/1.1').replace(/^HTTP\//, '')}`; }
  /** Every header only for rules that read them all; single ones by name. */
  get headers(): Record<string, string> { return (this.all ??= this.ctx.request.allHeaders?.() ?? {}); }
  header(name: string): string | undefined { return this.ctx.request.header(name); }
  get remotePort(): number { return Number(this.ctx.var('remote_port') ?? 0); }
  get serverPort(): number { return Number(this.ctx.var('server_port') ?? 0); }
  get uniqueId(): string { return String(this.ctx.var('request_id') ?? ''); }
}

function transactionFor(rules: LoadedRuleSet, ctx: PluginContext): Transaction {
  return startTransaction(rules, new ContextRequest(ctx));
}

function verdict(ctx: PluginContext, tx: Transaction, hit: Interruption | undefined): PhaseResult | undefined {
  if (hit !== undefined) {
    blocks.inc({ rule_id: String(hit.rule.id) });
    setVars(ctx, tx, 'block', hit.rule.id, hit.msg);
    ctx.log.info({ waf_rule_id: hit.rule.id, waf_msg: hit.msg }, 'waf: request blocked');
    return { status: hit.status, body: '' };
  }
  if (tx.detected !== undefined) {
    detections.inc({ rule_id: String(tx.detected.rule.id) });
    setVars(ctx, tx, 'detect', tx.detected.rule.id, tx.detected.msg);
    return undefined;
  }
  ctx.setVar('waf_action', 'pass');
  if (tx.matches.length > 0) setVars(ctx, tx, 'pass', undefined, '');
  return undefined;
}

export default definePlugin<WafConf, LoadedRuleSet>({
  name: 'waf',
  description: 'A ModSecurity-compatible web application firewall (the project\'s default rules, the OWASP Core Rule Set, or your own SecLang rules).',
  version: '0.1',
  stage: 'authentication',
  priority: 330,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      useCRS: { type: 'boolean', default: false },
      secRules: { type: 'array', maxItems: 4096, items: { type: 'string', minLength: 1, maxLength: 65536 } },
      crsPath: { type: 'string', minLength: 1, maxLength: 4096, default: DEBIAN_CRS_PATH },
    },
  },

  prepare(conf) {
    const rules = loadWafRules({ useCRS: conf.useCRS ?? false, secRules: conf.secRules ?? [], crsPath: conf.crsPath ?? DEBIAN_CRS_PATH });
    reportOnce(rules);
    return rules;
  },

  // Synchronous unless the request has a body to read: a handler returning a promise costs
  // the runner a settle (timeout race) and the rest of the chain a microtask.
  access(rules, ctx) {
    if (rules.engine === 'Off') return undefined;
    const tx = transactionFor(rules, ctx);
    const hit = tx.runPhase(1);
    if (hit !== undefined || !rules.phases.has(2)) return verdict(ctx, tx, hit);
    if (!hasBody(ctx)) return verdict(ctx, tx, tx.runPhase(2));
    return ctx.request.body().then((body) => {
      if (body.length > rules.bodyLimit && rules.bodyLimitAction === 'Reject') {
        ctx.setVar('waf_action', 'block');
        return { status: 413, body: '' };
      }
      tx.data.body = body.toString('latin1');
      return verdict(ctx, tx, tx.runPhase(2));
    });
  },
});
