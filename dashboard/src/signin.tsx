import { useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { t } from './i18n/index.js';
import { verifyKey, type Session } from './session.js';

export function SignIn({ notice, onSignedIn }: { notice: string | undefined; onSignedIn: (s: Session) => void }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await verifyKey(key.trim()));
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      setError(status === 401 ? t('signin.badKey') : t('signin.failed', { reason: (err as Error).message }));
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit}>
        <h1>{t('app.name')}</h1>
        <h2>{t('signin.title')}</h2>
        <p class="muted">{t('signin.intro')}</p>
        {notice !== undefined && <p class="notice" role="status">{notice}</p>}
        <label for="signin-key">{t('signin.key')}</label>
        <input id="signin-key" name="key" type="password" autocomplete="current-password" required autofocus
          value={key} onInput={(e) => setKey(e.currentTarget.value)} aria-invalid={error !== undefined} />
        {error !== undefined && <p class="field-error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy || key.trim() === ''}>
          {busy ? t('signin.checking') : t('signin.submit')}
        </button>
      </form>
    </main>
  );
}
