// The last thing the user said in an OpenAI-style chat body (`messages`), for plugins that
// choose by the prompt (model-router's auto routing).
import type { JsonObject } from './json-body.js';

/**
 * The text of the last `user` message, as Higress reads it: a string content, or the last
 * `text` part of a multimodal one (a message with no text part leaves the previous text).
 */
export function lastUserMessage(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  let text = '';
  for (const m of messages) {
    if (typeof m !== 'object' || m === null || (m as JsonObject).role !== 'user') continue;
    const content = (m as JsonObject).content;
    if (Array.isArray(content)) {
      for (const part of content) {
        const t = part as JsonObject | null;
        if (t !== null && typeof t === 'object' && t.type === 'text' && typeof t.text === 'string') text = t.text;
      }
    } else {
      text = typeof content === 'string' ? content : '';
    }
  }
  return text;
}
