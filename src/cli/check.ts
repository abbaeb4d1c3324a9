import { loadNodeConfig } from '../core/node-config.js';
import { createStore } from '../config-store/create-store.js';

/** `gatehouse check`: the node config and the configuration its store holds, validated without starting anything. */
export async function checkConfig(file: string): Promise<number> {
  try {
    const config = await loadNodeConfig(file);
    const store = await createStore(config);
    const state = await store.load();
    await store.close();
    process.stdout.write(`${file}: ok (store ${config.store.type}, ${state.objects.length} objects, revision ${state.revision})\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}
