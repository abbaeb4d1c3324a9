// frontend-gray's configuration: Higress's fields (plugins/wasm-go/extensions/frontend-gray,
// config/config.go), with bounds. Versions go into paths and cookies, so they are kept to
// characters that need no escaping in either.

export interface GrayRuleConf { name: string; grayKeyValue?: string[]; grayTagKey?: string; grayTagValue?: string[] }

export interface DeploymentConf {
  version: string;
  backendVersion?: string;
  versionPredicates?: Record<string, string>;
}

export interface GrayDeploymentConf extends DeploymentConf { name: string; enabled: boolean; weight?: number }

export interface FrontendGrayConf {
  grayKey?: string;
  graySubKey?: string;
  localStorageGrayKey?: string;
  useManifestAsEntry?: boolean;
  storeMaxAge?: number;
  indexPaths?: string[];
  skippedPaths?: string[];
  skippedByHeaders?: Record<string, string>;
  rules?: GrayRuleConf[];
  rewrite?: { host?: string; indexRouting?: Record<string, string>; fileRouting?: Record<string, string>; notFoundUri?: string };
  baseDeployment: DeploymentConf;
  grayDeployments?: GrayDeploymentConf[];
  backendGrayTag?: string;
  uniqueGrayTag?: string;
  injection?: {
    head?: string[];
    body?: { first?: string[]; last?: string[] };
    globalConfig?: { key?: string; featureKey?: string; value?: string; enabled?: boolean };
  };
  html?: string;
}

/** A cookie or header name (an HTTP token). */
const TOKEN = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' };
const VERSION = { type: 'string', minLength: 1, maxLength: 128, pattern: '^ *[A-Za-z0-9][A-Za-z0-9._~-]* *$' };
/** A path with no `.` or `..` segment; `{version}` may appear in it. */
const PATH = { type: 'string', minLength: 1, maxLength: 1024, pattern: '^/(?!(.*/)?\\.\\.?(/|$))[^\\s?#]*$' };
const ROUTING = { type: 'object', maxProperties: 256, propertyNames: PATH, additionalProperties: PATH };
const GLOBS = { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 1024 } };
const SNIPPETS = { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 65536 } };
const JS_NAME = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9_]+$' };

const deployment = {
  version: VERSION,
  backendVersion: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9._~-]*$' },
  versionPredicates: { type: 'object', maxProperties: 256, propertyNames: PATH, additionalProperties: VERSION },
};

export const FRONTEND_GRAY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['baseDeployment'],
  properties: {
    grayKey: TOKEN,
    graySubKey: { type: 'string', minLength: 1, maxLength: 256 },
    localStorageGrayKey: TOKEN,
    useManifestAsEntry: { type: 'boolean', default: false },
    storeMaxAge: { type: 'integer', minimum: 0, maximum: 315360000, default: 31536000 },
    indexPaths: GLOBS,
    skippedPaths: GLOBS,
    skippedByHeaders: { type: 'object', maxProperties: 64, propertyNames: TOKEN, additionalProperties: { type: 'string', maxLength: 4096 } },
    rules: {
      type: 'array', maxItems: 256,
      items: {
        type: 'object', additionalProperties: false, required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 256 },
          grayKeyValue: { type: 'array', maxItems: 10000, items: { type: 'string', maxLength: 1024 } },
          grayTagKey: TOKEN,
          grayTagValue: { type: 'array', minItems: 1, maxItems: 1024, items: { type: 'string', maxLength: 1024 } },
        },
        dependencies: { grayTagKey: ['grayTagValue'], grayTagValue: ['grayTagKey'] },
      },
    },
    rewrite: {
      type: 'object', additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1, maxLength: 255, pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$' },
        indexRouting: ROUTING,
        fileRouting: ROUTING,
        notFoundUri: PATH,
      },
    },
    baseDeployment: { type: 'object', additionalProperties: false, required: ['version'], properties: deployment },
    grayDeployments: {
      type: 'array', maxItems: 64,
      items: {
        type: 'object', additionalProperties: false, required: ['name', 'version', 'enabled'],
        properties: {
          ...deployment,
          name: { type: 'string', minLength: 1, maxLength: 256 },
          enabled: { type: 'boolean' },
          weight: { type: 'integer', minimum: 0, maximum: 100 },
        },
      },
    },
    backendGrayTag: TOKEN,
    uniqueGrayTag: TOKEN,
    injection: {
      type: 'object', additionalProperties: false,
      properties: {
        head: SNIPPETS,
        body: { type: 'object', additionalProperties: false, properties: { first: SNIPPETS, last: SNIPPETS } },
        globalConfig: {
          type: 'object', additionalProperties: false,
          properties: {
            key: JS_NAME,
            featureKey: JS_NAME,
            value: { type: 'string', maxLength: 65536 },
            enabled: { type: 'boolean', default: false },
          },
        },
      },
    },
    html: { type: 'string', maxLength: 1048576 },
  },
} as const;
