// The routes, read-only, each with the way to its plugin chain (the route editor, with
// create/edit/delete, is the editors' section).
import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { loadRoutes, type RouteRow } from './model.js';

export function ChainRoutes() {
  const [routes, setRoutes] = useState<RouteRow[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    loadRoutes().then(setRoutes, (e: Error) => setError(t('common.loadFailed', { reason: e.message })));
  }, []);
  return (
    <section class="chain-routes">
      <div class="page-head"><h1>{t('chain.routesTitle')}</h1></div>
      <p class="muted">{t('chain.routesHint')}</p>
      {error !== undefined && <p class="error" role="alert">{error}</p>}
      {routes === undefined && error === undefined && <p class="muted">{t('common.loading')}</p>}
      {routes?.length === 0 && <p class="muted">{t('chain.noRoutes')}</p>}
      {routes !== undefined && routes.length > 0 && (
        <table class="grid-table">
          <thead><tr>
            <th>{t('chain.colId')}</th><th>{t('chain.colName')}</th><th>{t('chain.colUris')}</th>
            <th>{t('chain.colMethods')}</th><th>{t('chain.colPlugins')}</th><th />
          </tr></thead>
          <tbody>
            {routes.map((r) => (
              <tr key={r.id} data-route={r.id}>
                <td><code>{r.id}</code></td>
                <td>{r.name}</td>
                <td>{r.uris.join(', ')}</td>
                <td>{r.methods.length === 0 ? t('chain.anyMethod') : r.methods.join(', ')}</td>
                <td>{r.plugins.join(', ')}</td>
                <td><a href={`#/routes/${encodeURIComponent(r.id)}/chain`}>{t('chain.open')}</a></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
