// Loopback moderation services for ai-security-guard's tests: an OpenAI-moderation-shaped
// one and one speaking Aliyun's content-security RPC (TextModerationPlus) that checks each
// request's signature the way Aliyun documents it (written here from the documentation,
// not shared with the gateway's code, so a mistake in either shows). Both flag a text
// containing a word of `FLAGGED_WORDS` and record what they were asked.
import { createHmac } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from './loopback-server.js';

export const FLAGGED_WORDS = ['bomb', 'weapon'];
const flags = (text: string): boolean => FLAGGED_WORDS.some((w) => text.toLowerCase().includes(w));

export interface ModerationFake {
  server: LoopbackServer;
  /** Texts checked, in order. */
  texts: string[];
  /** Headers or parameters of interest of each call. */
  calls: Record<string, string>[];
  close(): Promise<void>;
}

function fake(answer: (req: ReceivedRequest, res: ServerResponse, fake: ModerationFake) => void): Promise<ModerationFake> {
  const f: ModerationFake = { server: undefined as unknown as LoopbackServer, texts: [], calls: [], close: async () => {} };
  return startLoopbackServer((req, res) => answer(req, res, f)).then((server) => {
    f.server = server;
    f.close = () => new Promise((r) => { server.server.closeAllConnections(); server.server.close(() => r()); });
    return f;
  });
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** POST {model, input} → {results:[{flagged, categories, category_scores}]}; "hate" scores 0.6 without being flagged. */
export function startOpenAiModeration(): Promise<ModerationFake> {
  return fake((req, res, f) => {
    const body = JSON.parse(req.body.toString()) as { model?: string; input: string };
    f.texts.push(body.input);
    f.calls.push({ authorization: String(req.headers.authorization ?? ''), model: body.model ?? '' });
    const flagged = flags(body.input);
    json(res, 200, { id: 'modr-1', model: body.model, results: [{
      flagged,
      categories: { violence: flagged, hate: false },
      category_scores: { violence: flagged ? 0.98 : 0.01, hate: body.input.includes('hate') ? 0.6 : 0.01 },
    }] });
  });
}

// Aliyun's RPC encoding: RFC 3986 unreserved characters kept, everything else %XX of its UTF-8 bytes
const encode = (s: string): string => Array.from(Buffer.from(s, 'utf8'))
  .map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
  .join('');

/** Checks the RPC signature with `secrets` (AccessKeyId → secret); answers TextModerationPlus with RiskLevel high for flagged texts. */
export function startAliyunModeration(secrets: Record<string, string>): Promise<ModerationFake> {
  return fake((req, res, f) => {
    const params = Object.fromEntries(new URLSearchParams(req.body.toString()));
    const secret = secrets[params.AccessKeyId ?? ''];
    if (secret === undefined) return json(res, 404, { Code: 'InvalidAccessKeyId.NotFound' });
    const canonical = Object.keys(params).filter((k) => k !== 'Signature').sort().map((k) => `${encode(k)}=${encode(params[k]!)}`).join('&');
    const stringToSign = `${req.method}&${encode('/')}&${encode(canonical)}`;
    const expected = createHmac('sha1', `${secret}&`).update(stringToSign).digest('base64');
    if (params.Signature !== expected || params.SignatureMethod !== 'HMAC-SHA1' || params.SignatureVersion !== '1.0'
      || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(params.Timestamp ?? '') || (params.SignatureNonce ?? '') === '') {
      return json(res, 400, { Code: 'SignatureDoesNotMatch', Message: 'Specified signature is not matched with our calculation.' });
    }
    if (params.Action !== 'TextModerationPlus' || params.Version !== '2022-03-02') return json(res, 400, { Code: 'InvalidAction' });
    const content = (JSON.parse(params.ServiceParameters ?? '{}') as { content: string }).content;
    f.texts.push(content);
    f.calls.push({ service: params.Service ?? '', token: params.SecurityToken ?? '' });
    const flagged = flags(content);
    json(res, 200, { Code: 200, Message: 'OK', RequestId: 'req-1', Data: {
      RiskLevel: flagged ? 'high' : 'none',
      Result: flagged ? [{ Label: 'violent_explosion', RiskWords: 'bomb', Confidence: 99 }] : [{ Label: 'nonLabel' }],
      ...(flagged ? { Advice: [{ Answer: 'The guard says no.' }] } : {}),
    } });
  });
}

/** A service that never answers (its connections are held until close). */
export function startSilentModeration(): Promise<ModerationFake> {
  return fake((req, _res, f) => { f.texts.push(req.body.toString()); });
}
