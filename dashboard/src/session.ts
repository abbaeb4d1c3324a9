// Who is signed in. The key lives in sessionStorage only: it goes with the tab, and is
// never written to localStorage or a cookie, where it would outlive the session.
import { api } from './api.js';

export type Role = 'admin' | 'viewer';

export interface Session {
  key: string;
  name: string;
  role: Role;
}

const STORAGE_KEY = 'gatehouse.session';

export function loadSession(): Session | undefined {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (raw === null) return undefined;
  try {
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.key === 'string' && typeof s.name === 'string' && (s.role === 'admin' || s.role === 'viewer')) {
      return { key: s.key, name: s.name, role: s.role };
    }
  } catch {
    // a damaged entry is the same as none
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return undefined;
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Asks the gateway who `key` is (GET /apisix/admin/session); throws ApiError (401) for a bad key. */
export async function verifyKey(key: string): Promise<Session> {
  const who = await api<{ name: string; role: Role }>('GET', '/session', undefined, key);
  return { key, name: who.name, role: who.role };
}
