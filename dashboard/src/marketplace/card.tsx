import { t } from '../i18n/index.js';
import { bindingsOf, descriptionOf, idOf, type MarketPlugin } from './model.js';

export function PluginCard({ plugin, onOpen }: { plugin: MarketPlugin; onOpen: () => void }) {
  const id = idOf(plugin);
  const custom = plugin.kind === 'custom';
  const bindings = bindingsOf(plugin);
  const description = descriptionOf(plugin);
  return (
    <article class={`card${custom && !plugin.enabled ? ' is-disabled' : ''}`} data-plugin={id} data-kind={plugin.kind}>
      <header class="card-head">
        <h3>
          <button type="button" class="link" onClick={onOpen} aria-label={t('card.open', { name: id })}>
            {custom ? plugin.name : id}
          </button>
        </h3>
        <span class={`badge ${plugin.kind}`}>{t(custom ? 'kind.custom' : 'kind.builtin')}</span>
        {custom && <span class={`badge ${plugin.enabled ? 'on' : 'off'}`}>{t(plugin.enabled ? 'state.enabled' : 'state.disabled')}</span>}
      </header>
      {custom && plugin.name !== id && <p class="plugin-id"><code>{id}</code></p>}
      {description !== '' && <p class="description">{description}</p>}
      <dl class="facts">
        <div><dt>{t('card.stage')}</dt><dd>{t(`stage.${plugin.stage}`)}</dd></div>
        <div><dt>{t('card.priority')}</dt><dd>{plugin.priority}</dd></div>
        <div><dt>{t('card.version')}</dt><dd>{String(plugin.version)}</dd></div>
        <div class="bound"><dt>{t('card.boundTo')}</dt>
          <dd>{bindings.length === 0 ? t('card.boundNowhere') : bindings.map(([k, bid]) => t(`bound.${k}`, { id: bid })).join(', ')}</dd>
        </div>
      </dl>
    </article>
  );
}
