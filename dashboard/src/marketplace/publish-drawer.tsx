// The seeds' publish form: PUT /custom_plugins/{id} as multipart/form-data, the .wasm
// checked for size here first and sent with upload progress. With `existing` it uploads
// a new version of that (disabled) plugin.
import { useState } from 'preact/hooks';
import { ApiError, uploadForm } from '../api.js';
import { Drawer, Field } from '../drawer.js';
import { t } from '../i18n/index.js';
import { STAGES, type CustomPlugin } from './model.js';

export const MAX_WASM_BYTES = 50 * 1024 * 1024;
const LANGUAGES = ['Go', 'Rust', 'C++', 'AssemblyScript', 'Zig'];
const TEXT_FIELDS = ['id', 'name', 'description', 'version', 'version_description', 'language', 'stage', 'priority'] as const;
type TextField = typeof TEXT_FIELDS[number];
type Errors = Partial<Record<TextField | 'file' | 'gateway_version' | 'form', string>>;

/** The client-side checks of the chosen file: .wasm, at most 50 MB. */
export function fileProblem(file: File | undefined): string | undefined {
  if (file === undefined) return t('publish.required');
  if (!/\.wasm$/i.test(file.name)) return t('publish.fileNotWasm');
  if (file.size > MAX_WASM_BYTES) return t('publish.fileTooLarge', { size: (file.size / 1024 / 1024).toFixed(1) });
  return undefined;
}

export function PublishDrawer({ existing, onClose, onPublished }:
  { existing?: CustomPlugin; onClose: () => void; onPublished: (id: string, version: string) => void }) {
  const [values, setValues] = useState<Record<TextField, string>>({
    id: existing?.id ?? '', name: existing?.name ?? '', description: existing?.description ?? '', version: '',
    version_description: '', language: existing?.language ?? LANGUAGES[0]!, stage: existing?.stage ?? 'default',
    priority: String(existing?.priority ?? 0),
  });
  const [gatewayAny, setGatewayAny] = useState((existing?.gateway_version ?? 'any') === 'any');
  const [gatewayMinimum, setGatewayMinimum] = useState(existing !== undefined && existing.gateway_version !== 'any' ? existing.gateway_version : '');
  const [file, setFile] = useState<File>();
  const [errors, setErrors] = useState<Errors>({});
  const [progress, setProgress] = useState<number>();

  const set = (k: TextField) => (e: Event): void => setValues({ ...values, [k]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const found: Errors = {};
    if (values.id.trim() === '') found.id = t('publish.required');
    if (values.version.trim() === '') found.version = t('publish.required');
    if (values.priority.trim() === '') found.priority = t('publish.required');
    if (!gatewayAny && gatewayMinimum.trim() === '') found.gateway_version = t('publish.required');
    const bad = fileProblem(file);
    if (bad !== undefined) found.file = bad;
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    const form = new FormData();
    for (const k of TEXT_FIELDS) if (k !== 'id' && values[k].trim() !== '') form.append(k, values[k].trim());
    form.append('gateway_version', gatewayAny ? 'any' : gatewayMinimum.trim());
    form.append('file', file!, file!.name);
    setProgress(0);
    try {
      await uploadForm('PUT', `/custom_plugins/${encodeURIComponent(values.id.trim())}`, form, setProgress);
      onPublished(values.id.trim(), values.version.trim());
    } catch (err) {
      setProgress(undefined);
      const apiError = err instanceof ApiError ? err : new ApiError(0, (err as Error).message);
      const field = apiError.field as keyof Errors | undefined;
      setErrors(field !== undefined && field !== 'form' && fieldIds.has(field) ? { [field]: apiError.message } : { form: apiError.message });
    }
  };

  const busy = progress !== undefined;
  const title = existing === undefined ? t('publish.titleCreate') : t('publish.titleVersion', { id: existing.id });
  return (
    <Drawer title={title} onClose={onClose}>
      <form class="publish-form" onSubmit={submit} noValidate>
        <Field id="language" label={t('publish.language')} error={errors.language}>
          <select id="language" name="language" value={values.language} onChange={set('language')}>
            {LANGUAGES.map((l) => <option key={l} value={l}>{l}</option>)}
            <option value="other">{t('publish.languageOther')}</option>
          </select>
        </Field>
        <Field id="id" label={t('publish.id')} hint={t('publish.idHint')} error={errors.id}>
          <input id="id" name="id" value={values.id} onInput={set('id')} readOnly={existing !== undefined} required pattern="[a-z0-9_-]+" />
        </Field>
        <Field id="name" label={t('publish.name')} error={errors.name}>
          <input id="name" name="name" value={values.name} onInput={set('name')} />
        </Field>
        <Field id="description" label={t('publish.description')} error={errors.description}>
          <textarea id="description" name="description" rows={2} value={values.description} onInput={set('description')} />
        </Field>
        <Field id="version" label={t('publish.version')} error={errors.version}>
          <input id="version" name="version" value={values.version} onInput={set('version')} required placeholder="1.0.0" />
        </Field>
        <Field id="version_description" label={t('publish.versionNote')} error={errors.version_description}>
          <input id="version_description" name="version_description" value={values.version_description} onInput={set('version_description')} />
        </Field>
        <Field id="file" label={t('publish.file')} error={errors.file}>
          <input id="file" name="file" type="file" accept=".wasm,application/wasm" required
            onChange={(e) => {
              const chosen = e.currentTarget.files?.[0];
              setFile(chosen);
              setErrors({ ...errors, file: chosen === undefined ? undefined : fileProblem(chosen) });
            }} />
        </Field>
        {busy && (
          <div class="progress" role="status">
            <progress max={1} value={progress} />
            <span>{progress! < 1 ? t('publish.uploading', { percent: Math.round(progress! * 100) }) : t('publish.checking')}</span>
          </div>
        )}
        <Field id="stage" label={t('publish.stage')} hint={t('publish.stageHint')} error={errors.stage}>
          <select id="stage" name="stage" value={values.stage} onChange={set('stage')}>
            {STAGES.map((s) => <option key={s} value={s}>{t(`stage.${s}`)}</option>)}
          </select>
        </Field>
        <Field id="priority" label={t('publish.priority')} hint={t('publish.priorityHint')} error={errors.priority}>
          <input id="priority" name="priority" type="number" step={1} value={values.priority} onInput={set('priority')} required />
        </Field>
        <fieldset class="field" data-field="gateway_version">
          <legend>{t('publish.gatewayVersion')}</legend>
          <label class="inline"><input type="radio" name="gateway_any" checked={gatewayAny} onChange={() => { setGatewayAny(true); setErrors({ ...errors, gateway_version: undefined }); }} /> {t('publish.gatewayAny')}</label>
          <label class="inline"><input type="radio" name="gateway_any" checked={!gatewayAny} onChange={() => setGatewayAny(false)} /> {t('publish.gatewaySpecific')}</label>
          {!gatewayAny && (
            <input id="gateway_version" name="gateway_version" aria-label={t('publish.gatewayMinimum')} placeholder="0.1.0"
              value={gatewayMinimum} onInput={(e) => { setGatewayMinimum(e.currentTarget.value); setErrors({ ...errors, gateway_version: undefined }); }} />
          )}
          {errors.gateway_version !== undefined && <p class="field-error" role="alert">{errors.gateway_version}</p>}
        </fieldset>
        {errors.form !== undefined && <p class="error" role="alert">{errors.form}</p>}
        <div class="actions">
          <button type="button" onClick={onClose}>{t('common.cancel')}</button>
          <button type="submit" class="primary" disabled={busy}>{t('publish.submit')}</button>
        </div>
      </form>
    </Drawer>
  );
}

const fieldIds = new Set<string>([...TEXT_FIELDS, 'file', 'gateway_version']);
