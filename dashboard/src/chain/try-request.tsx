// The "try a request" box: a sample request the inspector matches against the routes and
// evaluates every `_meta.filter` for; the consumer stands for the one an auth plugin
// would identify, so the consumer's and its group's plugins join the chain.
import { useState } from 'preact/hooks';
import { Field } from '../drawer.js';
import { t } from '../i18n/index.js';
import { parseHeaderLines, type PluginChainReport, type SampleRequest } from './model.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

export function TryRequest({ onTry, onClear, result, error }: {
  onTry: (r: SampleRequest) => void;
  onClear: () => void;
  result: PluginChainReport['request'];
  error: string | undefined;
}) {
  const [method, setMethod] = useState('GET');
  const [path, setPath] = useState('/');
  const [headerText, setHeaderText] = useState('');
  const [consumer, setConsumer] = useState('');
  const [headerError, setHeaderError] = useState<string>();

  const submit = (e: Event): void => {
    e.preventDefault();
    const parsed = parseHeaderLines(headerText);
    if ('badLine' in parsed) {
      setHeaderError(t('chain.badHeader', { line: parsed.badLine }));
      return;
    }
    setHeaderError(undefined);
    onTry({ method, path, headers: parsed.headers, ...(consumer.trim() !== '' ? { consumer: consumer.trim() } : {}) });
  };

  return (
    <form class="try-request" aria-label={t('chain.tryTitle')} onSubmit={submit}>
      <div class="try-head">
        <h2>{t('chain.tryTitle')}</h2>
        <button type="button" onClick={onClear} disabled={result === undefined}>{t('chain.tryClear')}</button>
        <button type="submit" class="primary">{t('chain.trySubmit')}</button>
      </div>
      <div class="try-row">
        <Field id="try-method" label={t('chain.tryMethod')}>
          <select id="try-method" value={method} onChange={(e) => setMethod(e.currentTarget.value)}>
            {METHODS.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </Field>
        <Field id="try-path" label={t('chain.tryPath')} error={error}>
          <input id="try-path" value={path} onInput={(e) => setPath(e.currentTarget.value)} />
        </Field>
        <Field id="try-headers" label={t('chain.tryHeaders')} hint={t('chain.tryHeadersHint')} error={headerError}>
          <textarea id="try-headers" rows={2} value={headerText} onInput={(e) => setHeaderText(e.currentTarget.value)} />
        </Field>
        <Field id="try-consumer" label={t('chain.tryConsumer')} hint={t('chain.tryConsumerHint')}>
          <input id="try-consumer" value={consumer} onInput={(e) => setConsumer(e.currentTarget.value)} />
        </Field>
      </div>
      {result !== undefined && (
        <p class={`try-result${result.matches ? '' : ' no-match'}`} role="status">
          {t(result.matches ? 'chain.matches' : 'chain.noMatch', { method: result.method, uri: result.uri, route: result.matched_route_id ?? '—' })}
          {result.consumer !== null && ` ${t(result.consumer_attached ? 'chain.consumerAttached' : result.consumer_found === false ? 'chain.consumerMissing' : 'chain.consumerNotAttached', { name: result.consumer })}`}
        </p>
      )}
    </form>
  );
}
