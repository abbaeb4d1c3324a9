// http-real-ip: seed 000's name for real-ip. The same plugin (schema, stage, priority and
// handlers) listed under a second name, so a config written with either name works.
import realIp from './real-ip.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';

export default definePlugin({
  ...realIp,
  name: 'http-real-ip',
  description: 'real-ip under the name seed 000 gives it: sets the real client IP address from a header, query argument or the PROXY protocol.',
});
