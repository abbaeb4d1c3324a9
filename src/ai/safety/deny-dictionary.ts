// The built-in dictionary `system_deny: true` adds to `deny_words`. Higress ships the
// houbb/sensitive-word lists (tens of thousands of Chinese entries); Gatehouse ships this
// short list of unambiguous English profanity instead, matched as whole words. It is a
// floor, not a content-safety classifier: put what your deployment must block in
// `deny_words`, or check prompts with ai-security-guard. Kept short on purpose; every
// entry here is a word no prompt about an ordinary subject contains.
export const SYSTEM_DENY_WORDS: readonly string[] = [
  'fuck', 'fucking', 'fucker', 'motherfucker', 'shit', 'bullshit', 'cunt', 'asshole', 'dickhead', 'bitch',
];
