// bot-detect: refuses crawlers by their User-Agent (Higress bot-detect). `allow` patterns
// pass first, then `deny` and the built-in crawler list refuse; every pattern is an
// unanchored RE2 search, linear in the User-Agent, whose length the HTTP parser bounds.
// An empty or absent User-Agent is refused at once (Higress refuses the empty one and
// leaves the absent one waiting forever).
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { setLoggedText } from './common/observe.js';
import { compileNgxRegex, type NgxRegex } from './common/ngx-regex.js';

export interface BotDetectConf {
  allow?: string[];
  deny?: string[];
  blocked_code: number;
  blocked_message: string;
}

interface BotDetectPrepared {
  allow: NgxRegex[];
  deny: NgxRegex[];
  /** The patterns as configured, for the log variable. */
  allowPatterns: readonly string[];
  denyPatterns: readonly string[];
  status: number;
  message: string;
}

/**
 * Known crawlers: a product token ending in bot/spider/crawler/… followed by a version,
 * anything that calls itself a crawler or spider, and the named crawlers of the big search
 * engines, social networks, SEO tools, AI-training crawlers and archivers. Ordinary
 * clients (browsers, curl, language HTTP libraries) match none of them.
 */
export const KNOWN_CRAWLERS: readonly string[] = [
  '(?:[Bb]ot|[Ss]pider|[Cc]rawler|[Ss]craper|[Aa]rchiver|[Ii]ndexer)[/ -]v?[0-9]',
  '(?i:crawl|spider|scrapy)',
  '(?i:googlebot|adsbot-google|mediapartners-google|google-inspectiontool|bingbot|bingpreview|msnbot|'
    + 'baiduspider|yandex[a-z]{1,30}|yahoo! slurp|duckduckbot|sogou|exabot|seznambot|naverbot|yeti/|petalbot|bytespider|'
    + 'applebot|facebookexternalhit|facebot|twitterbot|linkedinbot|slackbot|discordbot|telegrambot|whatsapp|pinterestbot|'
    + 'ahrefsbot|semrushbot|mj12bot|dotbot|rogerbot|blexbot|serpstatbot|dataforseobot|'
    + 'gptbot|chatgpt-user|claudebot|anthropic-ai|ccbot|perplexitybot|amazonbot|'
    + 'ia_archiver|archive\\.org_bot|heritrix|nutch|masscan|zgrab)',
];

const BUILT_IN = KNOWN_CRAWLERS.map((p) => compileNgxRegex(p));

// For access logs: which list decided (`allow`, `deny`, `builtin`, or `no_user_agent`), and
// what matched: the configured pattern for allow and deny, the crawler's product token
// (e.g. `Googlebot/2.1`) for the built-in list.
registerVariable('bot_detect_match');
registerVariable('bot_detect_pattern');
/** The most of a crawler token logged. */
export const MAX_LOGGED_TOKEN = 64;

const patternList = { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 4096 } };

export default definePlugin<BotDetectConf, BotDetectPrepared>({
  name: 'bot-detect',
  description: 'Refuses web crawlers by their User-Agent, with a built-in list of known crawlers.',
  version: '0.1',
  stage: 'authentication',
  priority: 310,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allow: patternList,
      deny: patternList,
      blocked_code: { type: 'integer', minimum: 200, maximum: 599, default: 403 },
      blocked_message: { type: 'string', maxLength: 4096, default: 'Invalid User-Agent' },
    },
  },

  prepare(conf) {
    return {
      allow: compileList('allow', conf.allow),
      deny: compileList('deny', conf.deny),
      allowPatterns: conf.allow ?? [],
      denyPatterns: conf.deny ?? [],
      status: conf.blocked_code ?? 403,
      message: conf.blocked_message ?? 'Invalid User-Agent',
    };
  },

  access(p, ctx) {
    const refusal = { status: p.status, body: p.message };
    const ua = ctx.request.header('user-agent');
    if (ua === undefined || ua === '') {
      ctx.setVar('bot_detect_match', 'no_user_agent');
      return refusal;
    }
    const allowed = firstMatch(p.allow, ua);
    if (allowed >= 0) return matched(ctx, 'allow', p.allowPatterns[allowed]!, undefined);
    const denied = firstMatch(p.deny, ua);
    if (denied >= 0) return matched(ctx, 'deny', p.denyPatterns[denied]!, refusal);
    for (const re of BUILT_IN) {
      const m = re.match(ua);
      if (m !== undefined) return matched(ctx, 'builtin', crawlerToken(ua, m[0] ?? ''), refusal);
    }
    return undefined;
  },
});

function firstMatch(list: readonly NgxRegex[], ua: string): number {
  for (let i = 0; i < list.length; i++) if (list[i]!.match(ua) !== undefined) return i;
  return -1;
}

function matched(ctx: PluginContext, list: string, pattern: string, result: PhaseResult | undefined): PhaseResult | undefined {
  ctx.setVar('bot_detect_match', list);
  setLoggedText(ctx, 'bot_detect_pattern', pattern);
  return result;
}

const TOKEN_END = new Set([' ', ';', '(', ')', ',', '+']);

/** The User-Agent token around a built-in match (`bot/2` in `…; Googlebot/2.1; …` gives `Googlebot/2.1`), at most MAX_LOGGED_TOKEN characters. */
export function crawlerToken(ua: string, match: string): string {
  const at = ua.indexOf(match);
  if (at < 0 || match === '') return match.slice(0, MAX_LOGGED_TOKEN);
  let start = at;
  let end = at + match.length;
  while (start > 0 && !TOKEN_END.has(ua[start - 1]!)) start--;
  while (end < ua.length && !TOKEN_END.has(ua[end]!)) end++;
  if (end - start > MAX_LOGGED_TOKEN) {
    // keep the match in the window
    start = Math.max(start, Math.min(at, end - MAX_LOGGED_TOKEN));
    end = Math.min(end, start + MAX_LOGGED_TOKEN);
  }
  return ua.slice(start, end);
}

function compileList(field: string, patterns: string[] | undefined): NgxRegex[] {
  return (patterns ?? []).map((pattern, i) => {
    try {
      return compileNgxRegex(pattern);
    } catch (err) {
      throw new Error(`property "${field}" validation failed: item ${i + 1}: invalid regex "${pattern}": ${(err as Error).message}`);
    }
  });
}
