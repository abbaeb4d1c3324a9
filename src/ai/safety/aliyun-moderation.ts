// Aliyun's content-security API (Green, version 2022-03-02) as Higress's
// ai-security-guard calls it: action TextModerationPlus with a `Service` (the check
// profile, e.g. llm_query_moderation) and `ServiceParameters` {content, sessionId},
// signed with Aliyun's RPC signature (SignatureVersion 1.0, HMAC-SHA1): the parameters
// sorted by name, each name and value percent-encoded (RFC 3986, space as %20), joined as
// a query string; StringToSign = METHOD & %2F & percentEncode(that string); the signature
// is base64(HMAC-SHA1(secret + "&", StringToSign)). Higress's current release signs with
// ACS3-HMAC-SHA256 instead; the service accepts both.
import { createHmac, randomUUID } from 'node:crypto';
import { askModeration, type ModerationPhase, type ModerationService, type ModerationVerdict } from './moderation.js';

/** RFC 3986 percent-encoding as Aliyun's signature defines it (`A-Za-z0-9-_.~` kept). */
export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The string an RPC request signs: every parameter but Signature, sorted and encoded. */
export function rpcStringToSign(method: string, params: Record<string, string>): string {
  const canonical = Object.keys(params).filter((k) => k !== 'Signature').sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k]!)}`).join('&');
  return `${method}&${percentEncode('/')}&${percentEncode(canonical)}`;
}

export function rpcSignature(method: string, params: Record<string, string>, accessKeySecret: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(rpcStringToSign(method, params)).digest('base64');
}

/** Higress's level names in order: a bar blocks a level at or above it; `max`/`S4` never block. */
const LEVELS: Record<string, number> = { none: 0, s0: 0, low: 1, s1: 1, medium: 2, s2: 2, high: 3, s3: 3, max: 4, s4: 4 };

export function levelRank(level: unknown): number {
  return typeof level === 'string' ? LEVELS[level.toLowerCase()] ?? -1 : -1;
}

export interface AliyunLevelBars {
  contentModeration: string;
  promptAttack: string;
  sensitiveData: string;
}

export interface AliyunModerationOptions {
  /** Where requests go, e.g. https://green-cip.cn-shanghai.aliyuncs.com/ */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  securityToken?: string;
  requestService: string;
  responseService: string;
  bars: AliyunLevelBars;
  timeoutMs: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a TextModerationPlus answer: blocked when Data.RiskLevel reaches the content bar,
 * Data.AttackLevel the prompt-attack bar or Data.SensitiveLevel the sensitive-data bar.
 */
export function aliyunVerdict(answer: unknown, bars: AliyunLevelBars): ModerationVerdict {
  if (!isObject(answer)) throw new Error('moderation answer is not a JSON object');
  if (answer.Code !== 200) throw new Error(`moderation service answered Code ${String(answer.Code)}: ${String(answer.Message ?? '')}`);
  const data = isObject(answer.Data) ? answer.Data : {};
  const reaches = (level: unknown, bar: string): boolean => levelRank(level) >= 0 && levelRank(level) >= levelRank(bar);
  const flagged = reaches(data.RiskLevel, bars.contentModeration) || reaches(data.AttackLevel, bars.promptAttack)
    || reaches(data.SensitiveLevel, bars.sensitiveData);
  const labels: string[] = [];
  if (flagged && Array.isArray(data.Result)) {
    for (const r of data.Result) if (isObject(r) && typeof r.Label === 'string' && r.Label !== '') labels.push(r.Label);
  }
  const first = Array.isArray(data.Advice) ? data.Advice[0] : undefined;
  const advice = isObject(first) && typeof first.Answer === 'string' && first.Answer !== '' ? first.Answer : undefined;
  return advice !== undefined ? { flagged, labels, advice } : { flagged, labels };
}

/** An RPC timestamp: ISO 8601 in UTC to the second. */
const timestamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export class AliyunModeration implements ModerationService {
  constructor(private readonly opts: AliyunModerationOptions) {}

  async check(text: string, phase: ModerationPhase, signal: AbortSignal): Promise<ModerationVerdict> {
    const o = this.opts;
    const params: Record<string, string> = {
      AccessKeyId: o.accessKey,
      Action: 'TextModerationPlus',
      Format: 'JSON',
      Version: '2022-03-02',
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SignatureNonce: randomUUID(),
      Timestamp: timestamp(),
      Service: phase === 'request' ? o.requestService : o.responseService,
      ServiceParameters: JSON.stringify({ content: text, sessionId: randomUUID() }),
    };
    if (o.securityToken !== undefined) params.SecurityToken = o.securityToken;
    params.Signature = rpcSignature('POST', params, o.secretKey);
    const form = Object.entries(params).map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&');
    const answer = await askModeration(o.endpoint, { 'content-type': 'application/x-www-form-urlencoded' }, form, o.timeoutMs, signal);
    return aliyunVerdict(answer, o.bars);
  }
}
