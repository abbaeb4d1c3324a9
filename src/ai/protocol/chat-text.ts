// The texts of an OpenAI chat request or answer a content check reads: each message's
// `content` (a string, or the `text` of its `{type:"text"}` parts) and `reasoning_content`.

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Calls `fn` with each text of `message`; a string it returns replaces that text.
 * Returns false as soon as `fn` does (the rest is not visited).
 */
export function visitMessageTexts(message: unknown, fn: (text: string) => string | false | undefined): boolean {
  if (!isObject(message)) return true;
  const edit = (holder: Json, key: string): boolean => {
    const v = holder[key];
    if (typeof v !== 'string') return true;
    const r = fn(v);
    if (r === false) return false;
    if (r !== undefined) holder[key] = r;
    return true;
  };
  if (Array.isArray(message.content)) {
    for (const part of message.content) {
      if (isObject(part) && part.type === 'text' && !edit(part, 'text')) return false;
    }
  } else if (!edit(message, 'content')) {
    return false;
  }
  return edit(message, 'reasoning_content');
}

/** A chat-completions request: a `messages` array. */
export function isChatRequest(json: Json): json is Json & { messages: unknown[] } {
  return Array.isArray(json.messages);
}

/** Visits the texts of every `choices[].message` of a chat answer; false when `fn` stopped it. */
export function visitAnswerTexts(answer: unknown, fn: (text: string) => string | false | undefined): boolean {
  if (!isObject(answer) || !Array.isArray(answer.choices)) return true;
  for (const choice of answer.choices) {
    if (isObject(choice) && !visitMessageTexts(choice.message, fn)) return false;
  }
  return true;
}
