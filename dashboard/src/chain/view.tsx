// One route's plugin chain as the runner executes it: the request side's phases left to
// right, then the response side (its chains in reverse), each plugin with its source,
// stage, effective priority and measured cost; those that would not run are greyed with
// the reason. Drawn from the inspector, so what is shown is what the data plane does.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { t, type MessageKey } from '../i18n/index.js';
import { loadChain, loadPluginCosts, REQUEST_PHASES, type ChainEntry, type PhaseStep, type PluginChainReport, type PluginCosts, type SampleRequest } from './model.js';
import { TryRequest } from './try-request.js';

export function ChainView({ routeId }: { routeId: string }) {
  const [report, setReport] = useState<PluginChainReport>();
  const [costs, setCosts] = useState<PluginCosts>(new Map());
  const [error, setError] = useState<string>();
  const [tryError, setTryError] = useState<string>();

  const load = useCallback(async (request?: SampleRequest) => {
    try {
      setReport(await loadChain(routeId, request));
      setError(undefined);
      setTryError(undefined);
    } catch (e) {
      if (request !== undefined) setTryError((e as Error).message);
      else setError(t('common.loadFailed', { reason: (e as Error).message }));
    }
  }, [routeId]);
  useEffect(() => {
    void load();
    // The cost is optional: without metrics the chain is still the chain.
    loadPluginCosts().then(setCosts, () => undefined);
  }, [load]);

  const requestSide = report?.phases.filter((s) => (REQUEST_PHASES as readonly string[]).includes(s.phase)) ?? [];
  const responseSide = report?.phases.filter((s) => !(REQUEST_PHASES as readonly string[]).includes(s.phase)) ?? [];
  return (
    <section class="chain-view">
      <div class="page-head">
        <h1>{t('chain.title', { route: report?.route_name ?? routeId })}</h1>
        <a href="#/chain">{t('chain.back')}</a>
      </div>
      {error !== undefined && <p class="error" role="alert">{error}</p>}
      {report === undefined && error === undefined && <p class="muted">{t('common.loading')}</p>}
      {report !== undefined && (
        <>
          {[...report.problems, ...report.warnings, ...report.global_problems].map((p) => <p key={p} class="reason">{p}</p>)}
          {report.global_rule_conflicts.map((c) => (
            <p key={c.name} class="reason">{t('chain.conflict', { name: c.name, rules: c.global_rules.join(', ') })}</p>
          ))}
          <TryRequest onTry={(r) => void load(r)} onClear={() => void load()} result={report.request} error={tryError} />
          <h2>{t('chain.requestSide')}</h2>
          <p class="hint">{t('chain.costHint')}</p>
          <Lane steps={requestSide} costs={costs} label={t('chain.requestSide')} />
          <h2>{t('chain.responseSide')}</h2>
          <p class="hint">{t('chain.responseHint')}</p>
          <Lane steps={responseSide} costs={costs} label={t('chain.responseSide')} />
          {report.phases.length === 0 && <p class="muted">{t('chain.empty')}</p>}
        </>
      )}
    </section>
  );
}

function Lane({ steps, costs, label }: { steps: PhaseStep[]; costs: PluginCosts; label: string }) {
  return (
    <ol class="chain-lane" aria-label={label}>
      {steps.map((s, i) => (
        <li key={`${s.phase}/${s.chain}/${i}`} class="chain-step" data-phase={s.phase} data-chain={s.chain}>
          <h3>{s.phase}</h3>
          <p class="hint">{t(s.chain === 'global' ? 'chain.globalChain' : 'chain.routeChain')}{s.consumer_added === true ? ` · ${t('chain.consumerAdded')}` : ''}</p>
          <ol class="chain-plugins">
            {s.plugins.map((p) => <PluginBox key={`${p.name}/${p.origin}`} entry={p} cost={costs.get(`${p.name}/${s.phase}`)} />)}
          </ol>
        </li>
      ))}
    </ol>
  );
}

function PluginBox({ entry: p, cost }: { entry: ChainEntry; cost: ReturnType<PluginCosts['get']> }) {
  const source = t(`origin.${p.origin}` as MessageKey) + (p.origin_id !== null ? ` ${p.origin_id}` : '');
  const overridden = p.priority !== p.declared_priority || p.stage !== p.declared_stage;
  return (
    <li class={`chain-plugin${p.skipped !== undefined ? ' is-skipped' : ''}`} data-plugin={p.name} data-origin={p.origin}
      data-skipped={p.skipped}>
      <strong>{p.name}</strong>
      <span class={`badge origin-${p.origin}`}>{source}</span>
      <span class="chain-facts">
        {t(`stage.${p.stage}` as MessageKey)} · {t('chain.priority', { priority: p.priority })}
        {overridden && ` (${t('chain.declared', { stage: t(`stage.${p.declared_stage}` as MessageKey), priority: p.declared_priority })})`}
      </span>
      {p.filter !== null && <span class="chain-facts">{t('chain.hasFilter')}</span>}
      {p.skipped !== 'disabled' && cost !== undefined && cost.mean_us !== null && (
        <span class="chain-cost">{t('chain.cost', { mean: cost.mean_us, p99: cost.p99_us ?? '—' })}</span>
      )}
      {p.skipped !== undefined && <span class="chain-skip">{t(`skip.${p.skipped}` as MessageKey)}</span>}
    </li>
  );
}
