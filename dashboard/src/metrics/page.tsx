// Live metrics: the summary polled every few seconds; rates, the status mix, latency per
// route and plugin cost per phase over each interval, as charts of the last points and
// as the latest numbers; the node's health below.
import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { TimeChart } from './chart.js';
import { NodeHealth } from './health.js';
import {
  advance, latencySeries, loadSummary, pluginCostSeries, POLL_MS, requestSeries, routeLabel, statusSeries, type MetricsState,
} from './model.js';

const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : String(Math.round(v * 100) / 100));

export function MetricsPage() {
  const [state, setState] = useState<MetricsState>({ history: [] });
  const [error, setError] = useState<string>();

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async (): Promise<void> => {
      try {
        const next = await loadSummary();
        if (!stopped) { setState((s) => advance(s, next)); setError(undefined); }
      } catch (e) {
        if (!stopped) setError(t('common.loadFailed', { reason: (e as Error).message }));
      }
      if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => { stopped = true; clearTimeout(timer); };
  }, []);

  const { last, history } = state;
  const times = history.map((p) => p.time);
  const latest = history[history.length - 1];
  return (
    <section class="metrics">
      <div class="page-head">
        <h1>{t('metrics.title')}</h1>
        <span class="muted">{t('metrics.every', { seconds: POLL_MS / 1000 })}</span>
      </div>
      {error !== undefined && <p class="error" role="alert">{error}</p>}
      {last === undefined && error === undefined && <p class="muted">{t('common.loading')}</p>}
      {last !== undefined && latest === undefined && <p class="muted">{t('metrics.waiting')}</p>}
      {latest !== undefined && (
        <div class="stats" aria-label={t('metrics.latest')}>
          <div class="stat"><span>{t('metrics.rps')}</span><strong data-stat="rps">{fmt(latest.requests_per_s)}</strong></div>
          {(['2xx', '3xx', '4xx', '5xx'] as const).map((c) => (
            <div class={`stat status-${c}`} key={c}><span>{c}</span><strong data-stat={c}>{latest.status[c]}</strong></div>
          ))}
        </div>
      )}
      {last !== undefined && last.routes.length === 0 && <p class="notice">{t('metrics.noRoutes')}</p>}
      {history.length > 0 && (
        <div class="charts">
          <TimeChart title={t('metrics.rpsChart')} unit={t('metrics.perSecond')} times={times} series={requestSeries(history, t('metrics.allRoutes'))} />
          <TimeChart title={t('metrics.statusChart')} unit={t('metrics.perSecond')} times={times} series={statusSeries(history)} />
          <TimeChart title={t('metrics.latencyChart')} unit="ms" times={times} series={latencySeries(history)} />
          <TimeChart title={t('metrics.costChart')} unit="µs" times={times} series={pluginCostSeries(history)} />
        </div>
      )}
      {latest !== undefined && Object.keys(latest.routes).length > 0 && (
        <table class="grid-table route-metrics">
          <thead><tr><th>{t('metrics.route')}</th><th>{t('metrics.rps')}</th><th>p50 (ms)</th><th>p99 (ms)</th></tr></thead>
          <tbody>
            {Object.entries(latest.routes).map(([route, r]) => (
              <tr key={route} data-route={route}>
                <td>{routeLabel(route)}</td><td data-col="rps">{fmt(r.requests_per_s)}</td><td>{fmt(r.p50_ms)}</td><td>{fmt(r.p99_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {latest !== undefined && Object.keys(latest.plugins).length > 0 && (
        <table class="grid-table plugin-metrics">
          <thead><tr><th>{t('metrics.pluginPhase')}</th><th>{t('metrics.callsPerSecond')}</th><th>{t('metrics.meanUs')}</th><th>{t('metrics.p99Us')}</th></tr></thead>
          <tbody>
            {Object.entries(latest.plugins).map(([key, p]) => (
              <tr key={key} data-plugin-phase={key}>
                <td>{key}</td><td>{fmt(p.calls_per_s)}</td><td>{fmt(p.mean_us)}</td><td>{fmt(p.p99_us)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {last !== undefined && <NodeHealth summary={last} />}
    </section>
  );
}
