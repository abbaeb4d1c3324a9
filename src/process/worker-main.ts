import { runWorker } from './worker.js';

runWorker();
