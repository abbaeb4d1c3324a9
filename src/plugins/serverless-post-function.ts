import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { serverless, type ServerlessConf, type ServerlessPrepared } from './common/serverless.js';

// Runs user JavaScript functions in one phase, late in the chain (APISIX priority
// -2000). The JS adaptation of APISIX's Lua functions is described in common/serverless.ts.
const shared = serverless('serverless-post-function');

export default definePlugin<ServerlessConf, ServerlessPrepared>({
  name: 'serverless-post-function',
  description: 'Runs JavaScript functions at the end of a phase.',
  version: 0.1,
  stage: 'authorization',
  priority: -2000,
  // schema, prepare and every phase handler (with filtersBody) are the shared ones
  ...shared,
});
