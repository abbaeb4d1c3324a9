// The Admin API keys in effect. No key is ever shipped: when `admin.keys` is empty, one
// admin key is generated at first start, kept in `<data_dir>/admin.key` (mode 0600),
// printed once, and reused on later starts without being printed again.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../contracts/node-config.js';
import type { Logger } from '../core/logger.js';
import type { AdminKey } from './auth.js';

export const ADMIN_KEY_FILE = 'admin.key';

function readKeyFile(file: string): string | undefined {
  try {
    const key = readFileSync(file, 'utf8').trim();
    return key === '' ? undefined : key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The configured keys, or the generated one. */
export function resolveAdminKeys(config: Pick<NodeConfig, 'admin' | 'data_dir'>, log: Pick<Logger, 'warn'>): AdminKey[] {
  if (config.admin.keys.length > 0) return config.admin.keys.map((k) => ({ ...k, role: k.role ?? 'admin' }));
  const file = join(config.data_dir, ADMIN_KEY_FILE);
  let key = readKeyFile(file);
  if (key !== undefined) {
    // Someone may have loosened the mode; the key is a password.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  } else {
    key = randomBytes(24).toString('base64url');
    mkdirSync(config.data_dir, { recursive: true });
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600); // the umask may have cut the mode at creation; 0600 is the point
    log.warn({ admin_key: key, file },
      `no admin.keys configured: generated an Admin API key and saved it in ${file}; it is printed only this once`);
  }
  return [{ name: 'admin', key, role: 'admin' }];
}
