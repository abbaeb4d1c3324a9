// The samplers of APISIX's opentelemetry plugin (opentelemetry-lua's): always_on,
// always_off, trace_id_ratio and parent_base. A decision depends only on the trace id
// and the caller's sampled flag, so every hop that sees the same trace decides alike.

export type SamplerName = 'always_on' | 'always_off' | 'trace_id_ratio' | 'parent_base';

export interface SamplerConf {
  name: SamplerName;
  options?: { fraction?: number; root?: { name: Exclude<SamplerName, 'parent_base'>; options?: { fraction?: number } } };
}

/** Decides for a trace id, given the caller's sampled flag (undefined: no caller context). */
export type Sampler = (traceId: string, parentSampled: boolean | undefined) => boolean;

const ALWAYS: Sampler = () => true;
const NEVER: Sampler = () => false;

/**
 * Samples when the trace id's first 32 bits, read as an unsigned number, are below
 * `fraction` × 0xffffffff (as opentelemetry-lua does): the same trace id always gets the
 * same answer. A fraction of 1 or more samples everything, 0 or less nothing.
 */
export function traceIdRatio(fraction: number): Sampler {
  if (fraction >= 1) return ALWAYS;
  if (!(fraction > 0)) return NEVER;
  const bound = fraction * 0xffffffff;
  return (traceId) => parseInt(traceId.slice(0, 8), 16) < bound;
}

function rootSampler(name: string, fraction: number | undefined): Sampler {
  if (name === 'always_on') return ALWAYS;
  if (name === 'trace_id_ratio') return traceIdRatio(fraction ?? 0);
  return NEVER;
}

/** The sampler a config describes; parent_base follows the caller's flag and asks `root` for a trace it starts. */
export function samplerOf(conf: SamplerConf): Sampler {
  if (conf.name !== 'parent_base') return rootSampler(conf.name, conf.options?.fraction);
  const root = conf.options?.root;
  const decideRoot = root === undefined ? NEVER : rootSampler(root.name, root.options?.fraction);
  return (traceId, parentSampled) => (parentSampled === undefined ? decideRoot(traceId, undefined) : parentSampled);
}
