import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { compileVarTemplate, type VarTemplate } from './common/var-template.js';
import { checkVariables } from '../core/expr/index.js';
import { compileNgxRegex, compileNgxTemplate, type NgxRegex, type NgxTemplate } from './common/ngx-regex.js';
import { uriSafeEncode } from './common/ngx-uri.js';
import { HEADER_TEXT_SCHEMA } from './common/headers.js';

// Answers with a redirect instead of proxying (apisix/plugins/redirect.lua), in rewrite:
// `uri` (with $vars), `regex_uri` ([regex, template] on the uri; no match, no redirect),
// or `http_to_https` (301 for GET/HEAD, 308 otherwise, so the method and body survive).
// The request's scheme is X-Forwarded-Proto when present, else the listener's.
//
// Gatehouse difference: APISIX adds `plugin_attr.redirect.https_port` (or a random TLS
// listen port) to the https URL; Gatehouse redirects to the same host on the default
// https port, which is what a gateway behind port 443 needs.

export interface RedirectConf {
  ret_code: number;
  uri?: string;
  regex_uri?: string[];
  http_to_https?: boolean;
  encode_uri: boolean;
  append_query_string: boolean;
}

export interface RedirectPrepared {
  retCode: number;
  uri: VarTemplate | undefined;
  regexUri: { re: NgxRegex; template: NgxTemplate } | undefined;
  httpToHttps: boolean;
  encodeUri: boolean;
  appendQueryString: boolean;
}

const HTTPS_URI = compileVarTemplate('https://$host$request_uri');

export default definePlugin<RedirectConf, RedirectPrepared>({
  name: 'redirect',
  description: 'Redirects requests with a 3xx status: to HTTPS, or to another URI.',
  version: 0.1,
  stage: 'authorization',
  priority: 190,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      // APISIX sets no maximum; above 599 is no HTTP status (above 999 every request would fail with 500).
      ret_code: { type: 'integer', minimum: 200, maximum: 599, default: 302 },
      uri: { ...HEADER_TEXT_SCHEMA, minLength: 2 },
      regex_uri: {
        description: 'params for generating new uri that substitute from client uri, '
          + 'first param is regular expression, the second one is uri template',
        type: 'array',
        maxItems: 2,
        minItems: 2,
        items: { description: 'regex uri', ...HEADER_TEXT_SCHEMA },
      },
      http_to_https: { type: 'boolean' },
      encode_uri: { type: 'boolean', default: false },
      append_query_string: { type: 'boolean', default: false },
    },
    oneOf: [
      { required: ['uri'] },
      { required: ['regex_uri'] },
      { required: ['http_to_https'] },
    ],
  },

  prepare(conf) {
    if (conf.http_to_https === true && conf.append_query_string) {
      throw new Error('only one of `http_to_https` and `append_query_string` can be configured.');
    }
    // http_to_https answers 301 or 308 (APISIX ignores ret_code there); 302 is the default,
    // which cannot be told apart from one set on purpose.
    if (conf.http_to_https === true && (conf.ret_code ?? 302) !== 302) {
      throw new Error('ret_code has no effect with http_to_https, which answers 301 (GET, HEAD) or 308');
    }
    let regexUri: RedirectPrepared['regexUri'];
    if (conf.regex_uri !== undefined) {
      const [pattern, replacement] = conf.regex_uri as [string, string];
      try {
        regexUri = { re: compileNgxRegex(pattern, 'jo'), template: compileNgxTemplate(replacement) };
      } catch (err) {
        throw new Error(`invalid regex_uri (${pattern}, ${replacement}), err:${(err as Error).message}`);
      }
    }
    const uri = conf.uri !== undefined ? compileVarTemplate(conf.uri) : undefined;
    if (uri !== undefined) checkVariables(uri.variables, 'uri');
    return {
      retCode: conf.ret_code ?? 302,
      uri,
      regexUri,
      httpToHttps: conf.http_to_https === true,
      encodeUri: conf.encode_uri === true,
      appendQueryString: conf.append_query_string === true,
    };
  },

  rewrite(p, ctx) {
    const lookup = (n: string): unknown => ctx.var(n);
    let retCode = p.retCode;
    let uri = p.uri;
    if (p.httpToHttps) {
      const scheme = ctx.request.header('x-forwarded-proto') ?? lookup('scheme');
      if (scheme !== 'https') {
        uri = HTTPS_URI;
        const m = ctx.request.method;
        retCode = m === 'GET' || m === 'HEAD' ? 301 : 308;
      }
    }

    let location: string;
    if (uri !== undefined) {
      location = uri.render(lookup);
    } else if (p.regexUri !== undefined) {
      const { result, count } = p.regexUri.re.replace(ctx.request.uri, p.regexUri.template, false);
      if (count < 1) return;
      location = result;
    } else {
      return;
    }

    const index = location.indexOf('?');
    if (p.encodeUri) {
      location = index === -1 ? uriSafeEncode(location) : uriSafeEncode(location.slice(0, index)) + location.slice(index);
    }
    if (p.appendQueryString && lookup('is_args') === '?') {
      location += (index === -1 ? '?' : '&') + String(lookup('args') ?? '');
    }
    return { status: retCode, headers: { Location: location } };
  },
});
