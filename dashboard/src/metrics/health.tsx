// The node's health from the metrics summary: readiness, the store revision and what each
// worker applied, and the cluster's nodes when the store is shared.
import { t } from '../i18n/index.js';
import type { MetricsSummary } from './model.js';

export function NodeHealth({ summary }: { summary: MetricsSummary }) {
  const { node, cluster } = summary;
  return (
    <section class="node-health" aria-label={t('metrics.health')}>
      <h2>{t('metrics.health')}</h2>
      <p class="detail-state">
        <span class={`badge ${node.ready ? 'on' : 'off'}`} data-ready={String(node.ready)}>{t(node.ready ? 'metrics.ready' : 'metrics.notReady')}</span>
        <span>{t('metrics.revision', { revision: node.revision })}</span>
      </p>
      {node.problems.map((p) => <p key={p} class="reason">{p}</p>)}
      <table class="grid-table workers">
        <thead><tr>
          <th>{t('metrics.worker')}</th><th>{t('metrics.pid')}</th><th>{t('metrics.appliedRevision')}</th><th>{t('metrics.listening')}</th>
        </tr></thead>
        <tbody>
          {node.workers.map((w) => (
            <tr key={w.index} data-worker={w.index}>
              <td>{w.index}</td><td>{w.pid ?? '—'}</td><td>{w.revision}</td>
              <td>{w.acceptBlocked ?? t(w.listening ? 'metrics.listeningYes' : 'metrics.listeningNo')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {cluster !== null && <h3>{t('metrics.clusterNodes')}</h3>}
      {cluster !== null && 'error' in cluster && <p class="error">{cluster.error}</p>}
      {cluster !== null && 'nodes' in cluster && (
        <table class="grid-table cluster-nodes">
          <thead><tr>
            <th>{t('metrics.nodeId')}</th><th>{t('metrics.hostname')}</th><th>{t('metrics.version')}</th><th>{t('metrics.store')}</th>
            <th>{t('metrics.appliedRevision')}</th><th>{t('metrics.lag')}</th><th>{t('metrics.updated')}</th>
          </tr></thead>
          <tbody>
            {cluster.nodes.map((n) => (
              <tr key={n.id} data-node={n.id} class={n.self ? 'current' : undefined}>
                <td>{n.id}{n.self ? ` (${t('metrics.thisNode')})` : ''}</td><td>{n.hostname}</td><td>{n.version}</td><td>{n.store}</td>
                <td>{n.applied_revision}</td><td>{n.lag}</td><td>{n.updated_at}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
