// Hash routing: `#/plugins`, `#/plugins/custom/<id>`, `#/plugins/builtin/<name>`. The hash
// never reaches the server, so /ui/ is the only page it serves.
import { useEffect, useState } from 'preact/hooks';

export function currentPath(): string[] {
  return location.hash.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map(decodeURIComponent);
}

export function navigate(...segments: string[]): void {
  location.hash = `#/${segments.map(encodeURIComponent).join('/')}`;
}

export function useRoute(): string[] {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const onChange = (): void => setPath(currentPath());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return path;
}
