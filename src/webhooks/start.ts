import type { Config } from '../config.js';
import type { Clock } from '../clock.js';
import type { Db } from '../store/database.js';
import type { Logger } from '../logger.js';
import type { ModelRegistry } from '../models/registry.js';
import type { Queue } from '../queue/index.js';
import { ResultsReader } from '../results/results-reader.js';
import { jobObject } from '../api/batch-jobs.js';
import { WebhookDispatcher } from './dispatcher.js';
import { webhookSecret } from './secret.js';

/** The webhook deliverer of a process that runs jobs, sending each job as GET /v1/batch/jobs/{id} shows it. */
export function startWebhooks(core: { db: Db; queue: Queue; clock: Clock; log: Logger; registry: ModelRegistry }, config: Config): WebhookDispatcher {
  const { db, queue, clock, registry } = core;
  const view = { results: new ResultsReader(queue), registry, clock };
  const dispatcher = new WebhookDispatcher(
    {
      queue,
      clock,
      log: core.log,
      secret: (workspace) => webhookSecret(db, workspace),
      render: async (workspace, jobId) => {
        const row = await queue.get(workspace, jobId);
        if (!row) return null;
        const [live] = await queue.withLiveCounters([row]);
        return jobObject(view, live!, false);
      },
    },
    { ...config.webhooks, allowPrivate: config.limits.allowPrivateWebhooks },
  );
  dispatcher.start();
  return dispatcher;
}
