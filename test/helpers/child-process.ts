import type { ChildProcess } from 'node:child_process';

/**
 * Stops a server the tests started: SIGCONT first (it may be paused with SIGSTOP), then
 * SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited.
 */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}
