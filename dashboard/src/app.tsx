// The shell: sign-in until a key is verified, then header (product, language, user,
// sign-out), navigation and the section the hash names.
import { useEffect, useState } from 'preact/hooks';
import { configureApi } from './api.js';
import { currentLang, LANGS, setLang, t, type Lang } from './i18n/index.js';
import { ChainRoutes } from './chain/routes.js';
import { ChainView } from './chain/view.js';
import { Marketplace } from './marketplace/page.js';
import { MetricsPage } from './metrics/page.js';
import { Resources } from './resources/page.js';
import { navigate, useRoute } from './route.js';
import { clearSession, loadSession, saveSession, verifyKey, type Session } from './session.js';
import { SignIn } from './signin.js';

// Only sections that exist are listed; the editors, chain view and metrics join here.
const SECTIONS = [
  { path: 'plugins', label: 'nav.plugins' },
  { path: 'resources', label: 'nav.resources' },
  { path: 'chain', label: 'nav.chain' },
  { path: 'metrics', label: 'nav.metrics' },
] as const;

export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [lang, setLangState] = useState<Lang>(currentLang);
  const [notice, setNotice] = useState<string>();
  const route = useRoute();

  const signOut = (message?: string): void => {
    clearSession();
    setSession(undefined);
    setNotice(message);
  };
  // Set during render, before any child's effect can call the API.
  configureApi(session?.key, () => signOut(t('signin.expired')));
  // A key kept from an earlier visit is asked about once at load, so a revoked one returns
  // to sign-in (through the 401 handler above) whatever the opened section calls first.
  useEffect(() => {
    if (session !== undefined) verifyKey(session.key).catch(() => undefined);
  }, []);

  const chooseLang = (l: Lang): void => {
    setLang(l);
    setLangState(l);
  };

  const languageSwitch = (
    <label class="lang-switch">
      <span>{t('header.language')}</span>
      <select value={lang} onChange={(e) => chooseLang(e.currentTarget.value as Lang)}>
        {LANGS.map((l) => <option key={l.lang} value={l.lang}>{l.label}</option>)}
      </select>
    </label>
  );

  if (session === undefined) {
    return (
      <div class="app" key={lang}>
        <div class="signin-lang">{languageSwitch}</div>
        <SignIn notice={notice} onSignedIn={(s) => { saveSession(s); setNotice(undefined); setSession(s); }} />
      </div>
    );
  }

  // A route's chain (#/routes/<id>/chain) belongs to the chain section.
  const chainOf = route[0] === 'routes' && route[2] === 'chain' ? route[1] : undefined;
  const section = chainOf !== undefined ? 'chain' : route[0] ?? 'plugins';
  return (
    <div class="app" key={lang}>
      <header class="topbar">
        <span class="brand">{t('app.name')}</span>
        <nav aria-label={t('app.nav')}>
          {SECTIONS.map((s) => (
            <a key={s.path} href={`#/${s.path}`} aria-current={section === s.path ? 'page' : undefined}>{t(s.label)}</a>
          ))}
        </nav>
        <span class="spacer" />
        {languageSwitch}
        <span class="user" data-role={session.role}>
          {t('header.user', { name: session.name })} · {t(session.role === 'admin' ? 'role.admin' : 'role.viewer')}
        </span>
        <button type="button" onClick={() => { signOut(); navigate('plugins'); }}>{t('header.signOut')}</button>
      </header>
      <main class="content">
        {chainOf !== undefined ? <ChainView key={chainOf} routeId={chainOf} />
          : section === 'chain' ? <ChainRoutes />
          : section === 'metrics' ? <MetricsPage />
          : section === 'resources' ? <Resources canWrite={session.role === 'admin'} route={route.slice(1)} />
          : <Marketplace canWrite={session.role === 'admin'} route={route.slice(1)} />}
      </main>
    </div>
  );
}
