// bot-detect: refuses crawlers by their User-Agent (Higress bot-detect). `allow` patterns
// pass first, then `deny` and the built-in crawler list refuse; every pattern is an
// unanchored RE2 search, linear in the User-Agent, whose length the HTTP parser bounds.
// An empty or absent User-Agent is refused at once (Higress refuses the empty one and
// leaves the absent one waiting forever).
import { definePlugin } from '../plugin-runtime/define-plugin.js';
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
      status: conf.blocked_code ?? 403,
      message: conf.blocked_message ?? 'Invalid User-Agent',
    };
  },

  access(p, ctx) {
    const refusal = { status: p.status, body: p.message };
    const ua = ctx.request.header('user-agent');
    if (ua === undefined || ua === '') return refusal;
    const found = (list: NgxRegex[]): boolean => list.some((re) => re.match(ua) !== undefined);
    if (found(p.allow)) return undefined;
    if (found(p.deny) || found(BUILT_IN)) return refusal;
    return undefined;
  },
});

function compileList(field: string, patterns: string[] | undefined): NgxRegex[] {
  return (patterns ?? []).map((pattern, i) => {
    try {
      return compileNgxRegex(pattern);
    } catch (err) {
      throw new Error(`property "${field}" validation failed: item ${i + 1}: invalid regex "${pattern}": ${(err as Error).message}`);
    }
  });
}
