// The AI context of a request for plugins that act on the answer (ai-quota charges its
// tokens): ai-proxy's when ai-proxy sends the request, else one started here, the route's
// plain upstream being an OpenAI-compatible model. Observing only: chunks pass unchanged.
import type { PluginContext } from '../../contracts/plugin.js';
import { AiResponseObserver, aiContext, startAiContext, type AiContext } from './context.js';
import { finishProviderResponse } from '../proxy/proxy.js';

const OWN_OBSERVER = 'ai.usage-watch.observer';
const OWN_DONE = 'ai.usage-watch.done';
/** The plugin that started the observation: only its body_filter feeds it (several plugins may ask). */
const OWNER = 'ai.usage-watch.owner';

/** header_filter of plugin `owner`: starts reading the answer when no proxying plugin or other watcher does. */
export function watchAiResponse(ctx: PluginContext, owner: string): void {
  if (aiContext(ctx) !== undefined || ctx.shared.has(OWN_OBSERVER)) return;
  ctx.shared.set(OWNER, owner);
  const contentType = ctx.response.header('content-type');
  const stream = (contentType ?? '').toLowerCase().startsWith('text/event-stream');
  const ai = startAiContext(ctx, { provider: 'upstream', protocol: 'openai-chat', requestModel: undefined, sentModel: undefined, stream });
  ctx.shared.set(OWN_OBSERVER, new AiResponseObserver(ai, ctx.startedAt, contentType));
}

/** body_filter of plugin `owner`: reads a chunk of the answer, when that plugin started the observation. */
export function watchAiChunk(ctx: PluginContext, owner: string, chunk: Buffer, eof: boolean): void {
  const observer = ctx.shared.get(OWN_OBSERVER) as AiResponseObserver | undefined;
  if (observer === undefined || ctx.shared.has(OWN_DONE) || ctx.shared.get(OWNER) !== owner) return;
  observer.chunk(chunk);
  if (eof) finishOwn(ctx, observer);
}

/** The answer's AI context once it ended (or the request did): usage and text as far as they were read. */
export function watchedAiContext(ctx: PluginContext): AiContext | undefined {
  const observer = ctx.shared.get(OWN_OBSERVER) as AiResponseObserver | undefined;
  if (observer === undefined) return finishProviderResponse(ctx);
  if (!ctx.shared.has(OWN_DONE)) finishOwn(ctx, observer);
  return aiContext(ctx);
}

function finishOwn(ctx: PluginContext, observer: AiResponseObserver): void {
  ctx.shared.set(OWN_DONE, true);
  observer.end();
}
