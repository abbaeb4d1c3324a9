import type { ComponentChildren } from 'preact';
import { useLayoutEffect } from 'preact/hooks';
import { t } from './i18n/index.js';

/** A panel sliding over the page from the right; Escape or the close button closes it. */
export function Drawer({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  // A layout effect: listening from the moment the drawer is shown (a plain effect waits
  // for the next frame, and an Escape pressed before it was lost).
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') onClose();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div class="drawer-backdrop" onClick={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div class="drawer" role="dialog" aria-modal="true" aria-label={title}>
        <header class="drawer-head">
          <h2>{title}</h2>
          <button type="button" class="icon" aria-label={t('common.close')} onClick={onClose}>×</button>
        </header>
        <div class="drawer-body">{children}</div>
      </div>
    </div>
  );
}

/** A labelled form control with its hint and the error the API named it in. */
export function Field({ id, label, hint, error, children }:
  { id: string; label: string; hint?: string; error?: string | undefined; children: ComponentChildren }) {
  return (
    <div class={`field${error !== undefined ? ' has-error' : ''}`} data-field={id}>
      <label for={id}>{label}</label>
      {children}
      {hint !== undefined && <p class="hint">{hint}</p>}
      {error !== undefined && <p class="field-error" role="alert">{error}</p>}
    </div>
  );
}
