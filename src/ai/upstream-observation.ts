// A route whose plain upstream is the model (no ai-proxy) still has its answer read for
// usage: the first plugin that needs it starts the AI context in header_filter and feeds
// the observer it gets back; later plugins find the context and read it.
import type { PluginContext } from '../contracts/plugin.js';
import { AiResponseObserver, aiContext, startAiContext } from './context.js';

/** The observer to feed with the answer's chunks, or undefined when a proxying plugin (or another plugin) already observes it. */
export function observeUpstreamAnswer(ctx: PluginContext, requestModel: string | undefined): AiResponseObserver | undefined {
  if (aiContext(ctx) !== undefined) return undefined;
  const contentType = ctx.response.header('content-type');
  const stream = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === 'text/event-stream';
  const ai = startAiContext(ctx, { provider: 'upstream', protocol: 'openai-chat', requestModel, sentModel: requestModel, stream });
  return new AiResponseObserver(ai, ctx.startedAt, contentType);
}
