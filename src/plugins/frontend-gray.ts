// frontend-gray (Higress): picks a front-end version per user (an allow-list or a cookie tag
// per rule, or a share of users by weight), sends the request to that version's files
// (path prefix, host) and pins the choice in cookies on the pages it serves, whose HTML it
// may also edit. See docs/plugins/frontend-gray.md for where Gatehouse differs from Higress.
import { randomUUID } from 'node:crypto';
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { getCookie } from './common/auth.js';
import {
  chooseByRules, chooseForFile, longestPrefix, routingTable, ruleHit,
  type Choice, type Deployment, type GrayDeployments, type GrayRule, type Routing, type UserFacts,
} from './common/gray-choice.js';
import { globalConfigScript, rewriteHtml, type HtmlInjection } from './common/gray-html.js';
import { getPath, parseJsonPath, type JsonPath } from './common/json-path.js';
import { uriSafeEncode } from './common/ngx-uri.js';
import { compilePathGlob, type PathGlob } from './common/path-glob.js';
import { fetchNotFoundPage } from './common/gray-not-found.js';
import { FRONTEND_GRAY_SCHEMA, type FrontendGrayConf } from './common/gray-schema.js';

export type { FrontendGrayConf } from './common/gray-schema.js';

interface FrontendGrayPrepared {
  grayKey: string | undefined;
  subKey: JsonPath | undefined;
  indexPaths: PathGlob[];
  skippedPaths: PathGlob[];
  skippedByHeaders: [string, string][];
  rules: GrayRule[];
  deployments: GrayDeployments;
  host: string | undefined;
  indexRouting: Routing[];
  fileRouting: Routing[];
  notFoundUri: string | undefined;
  /** The unique-id cookie (case kept) when the id is used: uniqueGrayTag configured, or percentage mode. */
  uidCookie: string | undefined;
  /** The same name lower-cased, as a request header. */
  uidHeader: string;
  backendTag: string;
  backendCookie: boolean;
  maxAge: number;
  html: string | undefined;
  injection: HtmlInjection;
  stateKey: string;
}

interface GrayState {
  choice: Choice;
  page: boolean;
  index: boolean;
  uid: string;
  globalScript: string | undefined;
  /** Set in header_filter: what body_filter does with the body. */
  body?: { mode: 'page'; chunks: Buffer[]; size: number; fixed: boolean } | { mode: 'replace'; with: Buffer } | { mode: 'pass' };
}

/**
 * For access logs: the version served, how it was chosen, what became of a page body
 * (`rewritten`, `too_large`) and of a 404 with `notFoundUri` (`served`, `failed`).
 */
registerVariable('frontend_gray_version');
registerVariable('frontend_gray_source');
registerVariable('frontend_gray_html');
registerVariable('frontend_gray_not_found');

let requests: ReturnType<typeof counter<'route' | 'version'>> | undefined;

export const TAG_COOKIE = 'x-higress-tag';
const NO_CACHE = 'no-cache, no-store, max-age=0, must-revalidate';
/** Higress's page test: `/`, no extension, or one of these. */
const PAGE_EXTENSIONS = new Set(['.html', '.htm', '.jsp', '.php', '.asp', '.aspx', '.erb', '.ejs', '.twig']);
/** Values echoed back in a Set-Cookie: nothing that could add an attribute. */
const SAFE_UID = /^[A-Za-z0-9._~-]{1,128}$/;

let instances = 0;

export function isPagePath(path: string): boolean {
  if (path === '/' || path === '') return true;
  const last = path.slice(path.lastIndexOf('/') + 1);
  const dot = last.lastIndexOf('.');
  return dot < 0 || PAGE_EXTENSIONS.has(last.slice(dot));
}

/** IndexRewrite: the page path becomes the target of its longest prefix. */
export function indexRewrite(table: readonly Routing[], path: string, version: string): string {
  const r = longestPrefix(table, path);
  return r === undefined ? path : r.target.replaceAll('{version}', version);
}

/** PrefixFileRewrite: the longest prefix is replaced by its target, then the path is cleaned of `//`. */
export function fileRewrite(table: readonly Routing[], path: string, version: string): string {
  const r = longestPrefix(table, path);
  if (r === undefined) return path;
  return `${r.target.replaceAll('{version}', version)}/${path.slice(r.prefix.length)}`.replace(/\/{2,}/g, '/')
    .replace(/(.)\/$/, '$1');
}

function globs(list: string[] | undefined, field: string): PathGlob[] {
  return (list ?? []).map((g, i) => {
    try {
      return compilePathGlob(g);
    } catch (e) {
      throw new Error(`${field}[${i}]: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
}

function prepareDeployments(conf: FrontendGrayConf, rules: GrayRule[]): GrayDeployments {
  const ruleByName = new Map(rules.map((r) => [r.name, r]));
  const deployment = (d: FrontendGrayConf['baseDeployment'], rule: GrayRule | undefined, below: number): Deployment => ({
    version: d.version.trim(),
    backendVersion: d.backendVersion ?? '',
    predicates: routingTable(d.versionPredicates),
    rule,
    below,
  });
  const base = deployment(conf.baseDeployment, undefined, 0);
  const enabled = (conf.grayDeployments ?? []).map((d, i) => ({ d, i })).filter(({ d }) => d.enabled);
  const percentage = enabled.some(({ d }) => (d.weight ?? 0) > 0);
  let below = 0;
  const gray = enabled.map(({ d, i }) => {
    const rule = ruleByName.get(d.name);
    if (!percentage && rule === undefined) throw new Error(`grayDeployments[${i}].name: no rule named "${d.name}" in rules`);
    if (percentage) below += d.weight ?? 0;
    return deployment(d, percentage ? undefined : rule, percentage ? below : 0);
  });
  if (below > 100) throw new Error(`grayDeployments: the weights of the enabled deployments add up to ${below}, more than 100`);
  const weighted = percentage ? gray.filter((_, k) => (enabled[k]!.d.weight ?? 0) > 0) : [];
  const byVersion = new Map<string, Deployment>([[base.version, base]]);
  for (const g of gray) if (!byVersion.has(g.version)) byVersion.set(g.version, g);
  const multiVersion = [base, ...gray].some((d) => d.predicates.length > 0);
  return { base, gray, weighted, byVersion, multiVersion };
}

function prepareRules(conf: FrontendGrayConf): GrayRule[] {
  const seen = new Set<string>();
  return (conf.rules ?? []).map((r, i) => {
    if (seen.has(r.name)) throw new Error(`rules[${i}].name: "${r.name}" is used by an earlier rule`);
    seen.add(r.name);
    if ((r.grayKeyValue?.length ?? 0) > 0 && conf.grayKey === undefined && conf.localStorageGrayKey === undefined) {
      throw new Error(`rules[${i}].grayKeyValue: the user id comes from grayKey (or localStorageGrayKey), which is not set`);
    }
    return { name: r.name, ids: new Set(r.grayKeyValue ?? []), tagKey: r.grayTagKey, tagValues: new Set(r.grayTagValue ?? []) };
  });
}

/** The user id: cookie `grayKey`, else the header; with graySubKey, that field of its (URL-encoded) JSON when present. */
function userId(p: FrontendGrayPrepared, ctx: PluginContext, cookieHeader: string | undefined): string {
  if (p.grayKey === undefined) return '';
  const raw = getCookie(cookieHeader, p.grayKey) || ctx.request.header(p.grayKey.toLowerCase()) || '';
  if (p.subKey === undefined || raw === '') return raw;
  let doc: unknown;
  try {
    doc = JSON.parse(decodeURIComponent(raw.replaceAll('+', ' ')));
  } catch {
    return raw;
  }
  const v = getPath(doc, p.subKey);
  if (v === undefined || v === null || v === '') return raw;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Higress's IsGrayEnabled: whether the plugin handles this request at all. */
function handles(p: FrontendGrayPrepared, ctx: PluginContext, path: string, page: boolean, index: boolean): boolean {
  if (index) return true;
  if (p.skippedPaths.some((g) => g.matches(path))) return false;
  if (page || p.host !== undefined) return true;
  if (p.skippedByHeaders.some(([name, value]) => ctx.request.header(name) === value)) return false;
  return p.deployments.gray.length > 0;
}

function uniqueId(p: FrontendGrayPrepared, ctx: PluginContext, cookieHeader: string | undefined): string {
  if (p.uidCookie === undefined) return '';
  const sent = ctx.request.header(p.uidHeader) || getCookie(cookieHeader, p.uidCookie);
  return sent !== undefined && SAFE_UID.test(sent) ? sent : randomUUID().replaceAll('-', '');
}

function cookie(name: string, value: string, maxAge: number): string {
  return `${name}=${value}; Max-Age=${maxAge}; Path=/; HttpOnly; Secure`;
}

function isHtmlType(type: string | undefined): boolean {
  return type === undefined || type.toLowerCase().includes('html');
}

/** The 404's head waits while notFoundUri is fetched; when it comes, its page replaces the 404's body. */
async function serveNotFound(uri: string, ctx: PluginContext, s: GrayState): Promise<void> {
  const found = await fetchNotFoundPage(ctx, uri.replaceAll('{version}', s.choice.deployment.version));
  ctx.setVar('frontend_gray_not_found', found === undefined ? 'failed' : 'served');
  if (found === undefined) return;
  const res = ctx.response;
  for (const name of ['content-encoding', 'etag', 'last-modified', 'content-disposition']) res.setHeader(name, undefined);
  res.setHeader('content-type', found.type);
  res.setHeader('cache-control', NO_CACHE);
  s.body = { mode: 'replace', with: found.body };
}

function count(ctx: PluginContext, version: string): void {
  requests ??= counter('gatehouse_frontend_gray_requests_total', 'Requests frontend-gray handled, by route and the front-end version chosen.', ['route', 'version']);
  requests.inc({ route: ctx.routeId ?? '', version });
}

export default definePlugin<FrontendGrayConf, FrontendGrayPrepared>({
  name: 'frontend-gray',
  description: 'Serves each user a front-end version (gray release) by user allow-list, cookie tag or weight, pinned in a cookie.',
  version: '0.1',
  stage: 'authorization',
  priority: 450,
  schema: FRONTEND_GRAY_SCHEMA,

  prepare(conf) {
    if (conf.useManifestAsEntry === true) {
      throw new Error('useManifestAsEntry: manifests as micro-frontend entries are not implemented; set false or leave it out');
    }
    if (conf.graySubKey !== undefined && conf.grayKey === undefined && conf.localStorageGrayKey === undefined) {
      throw new Error('graySubKey: it reads a field of the grayKey value, and grayKey is not set');
    }
    const rules = prepareRules(conf);
    const deployments = prepareDeployments(conf, rules);
    const g = conf.injection?.globalConfig;
    const percentage = deployments.weighted.length > 0;
    return {
      grayKey: conf.localStorageGrayKey ?? conf.grayKey,
      subKey: conf.graySubKey === undefined ? undefined : parseJsonPath(conf.graySubKey, 'graySubKey'),
      indexPaths: globs(conf.indexPaths, 'indexPaths'),
      skippedPaths: globs(conf.skippedPaths, 'skippedPaths'),
      skippedByHeaders: Object.entries(conf.skippedByHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
      rules,
      deployments,
      host: conf.rewrite?.host,
      indexRouting: routingTable(conf.rewrite?.indexRouting),
      fileRouting: routingTable(conf.rewrite?.fileRouting),
      notFoundUri: conf.rewrite?.notFoundUri,
      uidCookie: conf.uniqueGrayTag !== undefined || percentage ? (conf.uniqueGrayTag ?? 'x-higress-uid') : undefined,
      uidHeader: (conf.uniqueGrayTag ?? 'x-higress-uid').toLowerCase(),
      backendTag: conf.backendGrayTag ?? 'x-mse-tag',
      backendCookie: deployments.gray.some((d) => d.backendVersion !== ''),
      maxAge: conf.storeMaxAge ?? 31536000,
      html: conf.html,
      injection: {
        head: conf.injection?.head ?? [],
        bodyFirst: conf.injection?.body?.first ?? [],
        bodyLast: conf.injection?.body?.last ?? [],
        global: g?.enabled === true
          ? { key: g.key ?? 'HIGRESS_CONSOLE_CONFIG', featureKey: g.featureKey ?? 'FEATURE_STATUS', value: g.value ?? '' } : undefined,
        localStorageGrayKey: conf.localStorageGrayKey,
      },
      stateKey: `frontend-gray#${++instances}`,
    };
  },

  rewrite(p, ctx) {
    const path = ctx.request.uri;
    const page = isPagePath(path);
    const index = p.indexPaths.some((g) => g.matches(path));
    if (!handles(p, ctx, path, page, index)) return;
    const cookieHeader = ctx.request.header('cookie');
    const user: UserFacts = { id: userId(p, ctx, cookieHeader), cookie: (n) => getCookie(cookieHeader, n), uid: uniqueId(p, ctx, cookieHeader) };
    const choice = page || index ? chooseByRules(p.deployments, user) : chooseForFile(p.deployments, user, path, getCookie(cookieHeader, TAG_COOKIE));
    const globalScript = p.injection.global === undefined ? undefined
      : globalConfigScript(p.injection.global, new Map(p.rules.map((r) => [r.name, ruleHit(r, user)])));
    ctx.shared.set(p.stateKey, { choice, page, index, uid: user.uid, globalScript } satisfies GrayState);

    const version = choice.deployment.version;
    // the page body may be rewritten: it must come uncompressed
    if (page) ctx.request.setHeader('accept-encoding', undefined);
    ctx.request.setHeader(TAG_COOKIE, version);
    if (p.host !== undefined) ctx.request.upstreamHost = p.host;
    const target = page ? indexRewrite(p.indexRouting, path, version) : fileRewrite(p.fileRouting, path, version);
    if (target !== path) {
      const q = ctx.request.upstreamUri.indexOf('?');
      ctx.request.upstreamUri = uriSafeEncode(target) + (q < 0 ? '' : ctx.request.upstreamUri.slice(q));
    }
    ctx.setVar('frontend_gray_version', version);
    ctx.setVar('frontend_gray_source', choice.source);
    count(ctx, version);
  },

  header_filter(p, ctx) {
    const s = ctx.shared.get(p.stateKey) as GrayState | undefined;
    if (s === undefined) return undefined;
    const res = ctx.response;
    if (res.status === 404 && p.notFoundUri !== undefined && !(s.page && p.html !== undefined)) return serveNotFound(p.notFoundUri, ctx, s);
    if (s.index) {
      res.setHeader('cache-control', NO_CACHE);
      return;
    }
    if (!s.page) return undefined;
    if (p.host !== undefined) res.setHeader('content-disposition', undefined);
    if (res.status === 404 && p.html !== undefined) {
      res.status = 200;
      res.setHeader('content-type', 'text/html');
      res.setHeader('content-encoding', undefined);
    } else if (res.status !== 200) {
      return undefined;
    }
    res.setHeader('cache-control', NO_CACHE);
    const d = s.choice.deployment;
    res.addHeader('set-cookie', cookie(TAG_COOKIE, d.version, p.maxAge));
    if (p.uidCookie !== undefined) res.addHeader('set-cookie', cookie(p.uidCookie, s.uid, p.maxAge));
    if (p.backendCookie) {
      res.addHeader('set-cookie', d.backendVersion === ''
        ? `${p.backendTag}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure`
        : cookie(p.backendTag, d.backendVersion, p.maxAge));
    }
    const encoding = res.header('content-encoding');
    const encoded = encoding !== undefined && encoding.trim().toLowerCase() !== 'identity';
    if (p.html === undefined && (encoded || !isHtmlType(res.header('content-type')))) return undefined;
    if (p.html !== undefined) {
      res.setHeader('content-encoding', undefined);
      if (!isHtmlType(res.header('content-type'))) res.setHeader('content-type', 'text/html');
    }
    res.setHeader('content-length', undefined);
    res.setHeader('etag', undefined);
    s.body = { mode: 'page', chunks: [], size: 0, fixed: p.html !== undefined };
    return undefined;
  },

  body_filter(p, ctx, chunk, eof) {
    const s = ctx.shared.get(p.stateKey) as GrayState | undefined;
    const body = s?.body;
    if (body === undefined || body.mode === 'pass') return undefined;
    if (body.mode === 'replace') return eof ? body.with : Buffer.alloc(0);
    if (!body.fixed) {
      body.chunks.push(chunk);
      body.size += chunk.length;
      if (body.size > pluginNodeLimits().maxBufferedBodySize) {
        // too large to edit: what was held back goes out as it came, the rest streams
        s!.body = { mode: 'pass' };
        ctx.setVar('frontend_gray_html', 'too_large');
        return Buffer.concat(body.chunks, body.size);
      }
    }
    if (!eof) return Buffer.alloc(0);
    const html = p.html ?? Buffer.concat(body.chunks, body.size).toString('utf8');
    body.chunks = [];
    if (html.length === 0) return undefined; // HEAD, 304: no body to edit
    ctx.setVar('frontend_gray_html', 'rewritten');
    return rewriteHtml(html, p.injection, s!.choice.deployment.version, s!.globalScript);
  },
});
