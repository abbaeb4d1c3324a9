// ai-security-guard's configuration: the snake_case fields (`moderation`,
// `check_request`, `deny_code` …) beside Higress's camelCase ones (`checkRequest`,
// `denyCode`, the Aliyun service fields), resolved into one settings object. A field
// with two spellings may be given once; Aliyun-only fields beside `moderation`, and
// Higress features not built here (MultiModalGuard, per-consumer overrides), are refused
// with the field named.
import type { OpenAiModerationOptions } from './moderation.js';
import type { AliyunModerationOptions } from './aliyun-moderation.js';

export interface AiSecurityGuardConf {
  moderation?: { endpoint: string; api_key?: string; model?: string; thresholds?: Record<string, number> };
  check_request?: boolean; checkRequest?: boolean;
  check_response?: boolean; checkResponse?: boolean;
  deny_code?: number; denyCode?: number;
  deny_message?: string; denyMessage?: string;
  fail_mode: 'open' | 'closed';
  serviceName?: string; servicePort?: number; serviceHost?: string;
  accessKey?: string; secretKey?: string; securityToken?: string;
  action: string;
  requestCheckService?: string; responseCheckService?: string;
  requestContentJsonPath?: string; responseContentJsonPath?: string; responseStreamContentJsonPath?: string;
  protocol: 'openai' | 'original';
  contentModerationLevelBar?: string; promptAttackLevelBar?: string; sensitiveDataLevelBar?: string;
  riskAction: 'block';
  timeout: number;
  bufferLimit: number;
  consumerRequestCheckService?: unknown; consumerResponseCheckService?: unknown; consumerRiskLevel?: unknown;
}

export interface GuardSettings {
  openai?: OpenAiModerationOptions;
  aliyun?: AliyunModerationOptions;
  checkRequest: boolean;
  checkResponse: boolean;
  denyCode: number;
  denyMessage?: string;
  defaultDenyMessage: string;
  failMode: 'open' | 'closed';
  protocolOriginal: boolean;
  requestPath?: string;
  requestPathField: string;
  responsePath: string;
  streamPath: string;
  bufferLimit: number;
}

export const DEFAULT_DENY_MESSAGE = 'Sorry, I cannot answer your question.';

const LEVEL = (what: string) => ({ type: 'string', enum: ['max', 'high', 'medium', 'low'], description: `Aliyun: blocks a ${what} level at or above it; max (the default) never blocks` });
const PATH = (dflt: string) => ({ type: 'string', minLength: 1, maxLength: 512, description: `gjson dotted path or JSONPath ($…); default ${dflt}` });
const MESSAGE = { type: 'string', maxLength: 4096, description: 'the reply text; default: the guard\'s advice (Aliyun), else "Sorry, I cannot answer your question."' };
const CODE = { type: 'integer', minimum: 200, maximum: 599, description: 'status of a blocked prompt\'s reply; default 200' };
const ALIYUN_ONLY = ['serviceName', 'servicePort', 'serviceHost', 'accessKey', 'secretKey', 'securityToken', 'requestCheckService',
  'responseCheckService', 'contentModerationLevelBar', 'promptAttackLevelBar', 'sensitiveDataLevelBar'] as const;

export const GUARD_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    moderation: {
      type: 'object',
      additionalProperties: false,
      required: ['endpoint'],
      properties: {
        endpoint: { type: 'string', pattern: '^https?://', maxLength: 2048, description: 'an OpenAI-moderation-shaped service: POST {model, input}' },
        api_key: { type: 'string', minLength: 1, maxLength: 4096, encrypted: true, description: 'a secret, never logged' },
        model: { type: 'string', minLength: 1, maxLength: 256 },
        thresholds: { type: 'object', maxProperties: 64, additionalProperties: { type: 'number', minimum: 0, maximum: 1 }, description: 'category → score at or above which a text is flagged, whatever flagged says' },
      },
    },
    check_request: { type: 'boolean', description: 'check prompts; default false' }, checkRequest: { type: 'boolean', description: 'as check_request' },
    check_response: { type: 'boolean', description: 'check answers; default false' }, checkResponse: { type: 'boolean', description: 'as check_response' },
    deny_code: CODE, denyCode: CODE,
    deny_message: MESSAGE, denyMessage: MESSAGE,
    fail_mode: { type: 'string', enum: ['open', 'closed'], default: 'open', description: 'a failed or timed-out check: open lets the text pass, closed blocks it' },
    serviceName: { type: 'string', minLength: 1, maxLength: 256, description: 'Aliyun: the host when serviceHost is absent (a .dns/.static suffix dropped)' },
    servicePort: { type: 'integer', minimum: 1, maximum: 65535, description: 'Aliyun: 443 (default) is https, any other port http' },
    serviceHost: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' },
    accessKey: { type: 'string', minLength: 1, maxLength: 256 },
    secretKey: { type: 'string', minLength: 1, maxLength: 256, encrypted: true, description: 'a secret, never logged' },
    securityToken: { type: 'string', minLength: 1, maxLength: 4096, encrypted: true, description: 'a secret, never logged' },
    action: { type: 'string', enum: ['TextModerationPlus', 'MultiModalGuard', 'MultiModalGuardForBase64'], default: 'TextModerationPlus' },
    requestCheckService: { type: 'string', minLength: 1, maxLength: 128, description: 'Aliyun Service for prompts; default llm_query_moderation' },
    responseCheckService: { type: 'string', minLength: 1, maxLength: 128, description: 'Aliyun Service for answers; default llm_response_moderation' },
    requestContentJsonPath: PATH('the last user message (protocol original: messages.@reverse.0.content)'),
    responseContentJsonPath: PATH('choices.0.message.content'),
    responseStreamContentJsonPath: PATH('choices.0.delta.content'),
    protocol: { type: 'string', enum: ['openai', 'original'], default: 'openai' },
    contentModerationLevelBar: LEVEL('RiskLevel'), promptAttackLevelBar: LEVEL('AttackLevel'),
    sensitiveDataLevelBar: { type: 'string', enum: ['S4', 'S3', 'S2', 'S1'], description: 'Aliyun: blocks a SensitiveLevel at or above it; S4 (the default) never blocks' },
    riskAction: { type: 'string', enum: ['block'], default: 'block' },
    timeout: { type: 'integer', minimum: 1, maximum: 60000, default: 2000, description: 'ms per moderation call' },
    bufferLimit: { type: 'integer', minimum: 1, maximum: 100000, default: 1000, description: 'characters per check (a streamed answer is held back up to this much)' },
    consumerRequestCheckService: { description: 'refused: per-consumer overrides are not built' },
    consumerResponseCheckService: { description: 'refused' }, consumerRiskLevel: { description: 'refused' },
  },
} as const;

/** The one value of a field spelled two ways (the and Higress's); both given and different is refused. */
function either<T>(conf: AiSecurityGuardConf, snake: keyof AiSecurityGuardConf, camel: keyof AiSecurityGuardConf): T | undefined {
  const a = conf[snake] as T | undefined;
  const b = conf[camel] as T | undefined;
  if (a !== undefined && b !== undefined && a !== b) throw new Error(`${snake} and ${camel} are the same setting: give one of them`);
  return a ?? b;
}

/** Higress's service fields as a URL: serviceHost (else serviceName less its .dns/.static suffix), https on 443, else http. */
function aliyunEndpoint(conf: AiSecurityGuardConf): string {
  const host = conf.serviceHost ?? conf.serviceName?.replace(/\.(dns|static)$/, '');
  if (host === undefined) throw new Error('serviceHost: required with the Aliyun fields (or serviceName), or configure moderation.endpoint');
  const port = conf.servicePort ?? 443;
  return port === 443 ? `https://${host}/` : `http://${host}:${port}/`;
}

export function resolveGuardConfig(conf: AiSecurityGuardConf): GuardSettings {
  for (const field of ['consumerRequestCheckService', 'consumerResponseCheckService', 'consumerRiskLevel'] as const) {
    if (conf[field] !== undefined) throw new Error(`${field}: per-consumer overrides are not supported here (bind a separate route or consumer config instead)`);
  }
  if (conf.action !== 'TextModerationPlus') throw new Error(`action: ${conf.action} is not supported here, only TextModerationPlus`);
  const settings: GuardSettings = {
    checkRequest: either<boolean>(conf, 'check_request', 'checkRequest') ?? false,
    checkResponse: either<boolean>(conf, 'check_response', 'checkResponse') ?? false,
    denyCode: either<number>(conf, 'deny_code', 'denyCode') ?? 200,
    defaultDenyMessage: DEFAULT_DENY_MESSAGE,
    failMode: conf.fail_mode,
    protocolOriginal: conf.protocol === 'original',
    requestPathField: 'requestContentJsonPath',
    responsePath: conf.responseContentJsonPath ?? 'choices.0.message.content',
    streamPath: conf.responseStreamContentJsonPath ?? 'choices.0.delta.content',
    bufferLimit: conf.bufferLimit,
  };
  const message = either<string>(conf, 'deny_message', 'denyMessage');
  if (message !== undefined) settings.denyMessage = message;
  // an OpenAI chat's prompt is its last user message; `original` bodies need a path (Higress's default)
  const requestPath = conf.requestContentJsonPath ?? (settings.protocolOriginal ? 'messages.@reverse.0.content' : undefined);
  if (requestPath !== undefined) settings.requestPath = requestPath;
  if (conf.moderation !== undefined) {
    const given = ALIYUN_ONLY.find((f) => conf[f] !== undefined);
    if (given !== undefined) throw new Error(`${given}: an Aliyun field, not used with moderation (an OpenAI-moderation-shaped service): configure one of the two`);
    const m = conf.moderation;
    settings.openai = { endpoint: m.endpoint, thresholds: m.thresholds ?? {}, timeoutMs: conf.timeout };
    if (m.api_key !== undefined) settings.openai.apiKey = m.api_key;
    if (m.model !== undefined) settings.openai.model = m.model;
    return settings;
  }
  if (conf.accessKey === undefined || conf.secretKey === undefined) {
    throw new Error('moderation: configure moderation.endpoint (an OpenAI-moderation-shaped service) or Aliyun\'s serviceHost, accessKey and secretKey');
  }
  settings.aliyun = {
    endpoint: aliyunEndpoint(conf),
    accessKey: conf.accessKey,
    secretKey: conf.secretKey,
    requestService: conf.requestCheckService ?? 'llm_query_moderation',
    responseService: conf.responseCheckService ?? 'llm_response_moderation',
    bars: {
      contentModeration: conf.contentModerationLevelBar ?? 'max',
      promptAttack: conf.promptAttackLevelBar ?? 'max',
      sensitiveData: conf.sensitiveDataLevelBar ?? 'S4',
    },
    timeoutMs: conf.timeout,
  };
  if (conf.securityToken !== undefined) settings.aliyun.securityToken = conf.securityToken;
  return settings;
}
