// Text controls that keep what the user is typing while it does not parse yet: a list with
// one entry per line, and a raw JSON editor (its error shown under it, the last valid value
// kept) that follows the value when the form beside it changes it.
import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';

const pretty = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v, null, 2));
const linesOf = (text: string): string[] => text.split('\n').map((s) => s.trim()).filter((s) => s !== '');

export function ListInput({ id, value, onChange, readOnly, numeric }:
  { id: string; value: unknown[] | undefined; onChange: (v: unknown[] | undefined) => void; readOnly: boolean; numeric?: boolean }) {
  const joined = (value ?? []).map(String).join('\n');
  const [text, setText] = useState(joined);
  useEffect(() => {
    if (linesOf(text).join('\n') !== joined) setText(joined);
  }, [joined]);
  return (
    <textarea id={id} rows={Math.min(6, Math.max(2, (value?.length ?? 0) + 1))} value={text} readOnly={readOnly}
      onInput={(e) => {
        const next = e.currentTarget.value;
        setText(next);
        const lines = linesOf(next);
        onChange(lines.length === 0 ? undefined : lines.map((s) => (numeric === true && s !== '' && !Number.isNaN(Number(s)) ? Number(s) : s)));
      }} />
  );
}

export function JsonText({ id, value, onChange, readOnly, rows = 8, object, onValidity, label }:
  {
    id: string; value: unknown; onChange: (v: unknown) => void; readOnly: boolean; rows?: number;
    /** Only a JSON object is accepted. */ object?: boolean;
    onValidity?: (problem: string | undefined) => void; label?: string;
  }) {
  const [text, setText] = useState(() => pretty(value));
  const [problem, setProblem] = useState<string>();
  const canonical = JSON.stringify(value);
  useEffect(() => {
    let same: boolean;
    try {
      same = JSON.stringify(text.trim() === '' ? undefined : JSON.parse(text)) === canonical;
    } catch {
      same = false;
    }
    if (!same) {
      setText(pretty(value));
      setProblem(undefined);
      onValidity?.(undefined);
    }
  }, [canonical]);

  const edit = (next: string): void => {
    setText(next);
    let found: string | undefined;
    let parsed: unknown;
    try {
      parsed = next.trim() === '' ? undefined : JSON.parse(next);
      if (object === true && (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))) found = t('res.jsonNotObject');
    } catch (e) {
      found = t('res.jsonInvalid', { reason: (e as Error).message });
    }
    setProblem(found);
    onValidity?.(found);
    if (found === undefined) onChange(parsed);
  };
  return (
    <div class={`json-text${problem !== undefined ? ' has-error' : ''}`}>
      <textarea id={id} class="code" rows={rows} spellcheck={false} value={text} readOnly={readOnly} aria-label={label}
        aria-invalid={problem !== undefined} onInput={(e) => edit(e.currentTarget.value)} />
      {problem !== undefined && <p class="field-error" role="alert">{problem}</p>}
    </div>
  );
}

/** A one-line text input; a secret one (`encrypted` in the schema, a token) is a password field. */
export function TextInput({ id, value, onChange, readOnly, secret, placeholder }:
  { id: string; value: string; onChange: (v: string | undefined) => void; readOnly: boolean; secret: boolean; placeholder?: string | undefined }) {
  const props = {
    id, value, readOnly, autocomplete: 'off', placeholder,
    onInput: (e: Event) => {
      const v = (e.currentTarget as HTMLInputElement).value;
      onChange(v === '' ? undefined : v);
    },
  };
  return secret ? <input type="password" {...props} /> : <input type="text" {...props} />;
}
