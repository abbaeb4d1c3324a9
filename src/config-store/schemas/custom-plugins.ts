// Custom (wasm) plugins of the marketplace: the publish form of the seeds' console, plus
// the versions published so far. The binaries are blobs; a version names its blob by sha256.
import { STAGE_ALIASES } from '../../contracts/plugin.js';
import { descDef, timestampDef, type Schema } from './common.js';

/** A plugin id is also the name routes bind it by, so it follows APISIX's id characters. */
export const CUSTOM_PLUGIN_ID_PATTERN = '^[a-zA-Z0-9-_.]+$';
/** Versions appear in paths (`/versions/{version}/wasm`): no slash, no spaces. */
export const PLUGIN_VERSION_PATTERN = '^[0-9A-Za-z][0-9A-Za-z._+-]*$';
export const GATEWAY_VERSION_PATTERN = '^(any|[0-9]+\\.[0-9]+\\.[0-9]+)$';
export const FAIL_STRATEGIES = ['FAIL_CLOSE', 'FAIL_OPEN'] as const;

const versionString: Schema = { type: 'string', minLength: 1, maxLength: 64, pattern: PLUGIN_VERSION_PATTERN };

export const customPluginVersionSchema: Schema = {
  type: 'object',
  properties: {
    version: versionString,
    version_description: descDef,
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    size: { type: 'integer', minimum: 0 },
    abi: { type: 'string', minLength: 1, maxLength: 32 },
    created_at: timestampDef,
  },
  required: ['version', 'sha256', 'size', 'abi', 'created_at'],
  additionalProperties: false,
};

export const customPluginSchema: Schema = {
  type: 'object',
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 64, pattern: CUSTOM_PLUGIN_ID_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 256 },
    description: descDef,
    language: { type: 'string', minLength: 1, maxLength: 64 },
    /** The seeds' stage names, or Higress's phase names in the same positions (normalised on write). */
    stage: { type: 'string', enum: Object.keys(STAGE_ALIASES) },
    priority: { type: 'integer' },
    gateway_version: { type: 'string', pattern: GATEWAY_VERSION_PATTERN, default: 'any' },
    root_id: { type: 'string', minLength: 1, maxLength: 256 },
    fail_strategy: { type: 'string', enum: [...FAIL_STRATEGIES], default: 'FAIL_CLOSE' },
    enabled: { type: 'boolean', default: true },
    version: versionString,
    versions: { type: 'array', minItems: 1, items: customPluginVersionSchema },
    create_time: timestampDef,
    update_time: timestampDef,
  },
  required: ['id', 'name', 'stage', 'priority', 'root_id', 'version', 'versions'],
  additionalProperties: false,
};
