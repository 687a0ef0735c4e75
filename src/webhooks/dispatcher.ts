import { randomUUID } from 'node:crypto';
import { request, type Agent } from 'undici';
import type { Clock } from '../clock.js';
import { unixSeconds } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Queue, WebhookEvent } from '../queue/index.js';
import { createOutboundAgent } from '../net/outbound-guard.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';

/** Deliveries one process has in flight at most: a slow receiver holds one, not the loop. */
const CONCURRENCY = 8;

export interface WebhookDeps {
  queue: Queue;
  clock: Clock;
  log: Logger;
  /** The workspace's signing secret (secret.ts). */
  secret(workspace: string): Promise<string>;
  /** The job object to send (the Mistral view, as GET /v1/batch/jobs/{id} returns it); null if the job is gone. */
  render(workspace: string, jobId: string): Promise<unknown>;
}

export interface WebhookOptions {
  pollMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  leaseMs: number;
  timeoutMs: number;
  /** Let receivers on loopback and private addresses be called (BATCHD_ALLOW_PRIVATE_WEBHOOKS=1). */
  allowPrivate: boolean;
}

/**
 * Delivers the webhook outbox (queue/webhook-outbox.ts) on its own timer, apart from
 * the runner: a receiver that is slow, down or refusing never delays a claim or a
 * record. Each event is leased, POSTed with its signature (signature.ts) through the
 * outbound guard, and marked delivered on a 2xx; any other answer, a timeout or a
 * refused address reschedules it with exponential backoff (retryBaseMs doubling up to
 * retryMaxMs) until its 24 hours are up. A process that dies mid-POST leaves the lease
 * to expire and the event is sent again: at least once; receivers deduplicate by the
 * `batchd-delivery` header (one id per event, the same on every attempt).
 */
export class WebhookDispatcher {
  readonly id = `webhooks-${randomUUID().slice(0, 8)}`;
  private readonly agent: Agent;
  private readonly inflight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly deps: WebhookDeps,
    private readonly opts: WebhookOptions,
  ) {
    this.agent = createOutboundAgent({ allowPrivate: opts.allowPrivate, connectTimeoutMs: opts.timeoutMs });
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
    await Promise.allSettled([...this.inflight]);
    await this.agent.close();
  }

  private schedule(delay: number) {
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = null;
        if (!this.stopped) this.schedule(this.opts.pollMs);
      });
    }, delay);
  }

  private async poll(): Promise<void> {
    const free = CONCURRENCY - this.inflight.size;
    if (free <= 0) return;
    let events: WebhookEvent[];
    try {
      events = await this.deps.queue.claimWebhooks(this.id, this.deps.clock.now(), this.opts.leaseMs, free);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'claiming webhook events failed');
      return;
    }
    for (const event of events) {
      const p: Promise<void> = this.deliver(event)
        .catch((err) => this.deps.log.error({ job: event.job_id, err: (err as Error).message }, 'webhook delivery failed'))
        .finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }
  }

  private async deliver(event: WebhookEvent): Promise<void> {
    const { queue, clock } = this.deps;
    let error: string;
    try {
      const job = await this.deps.render(event.workspace, event.job_id);
      if (job === null) {
        // Deleted and purged since: nothing left to announce.
        await queue.rescheduleWebhook(event, this.id, Number.MAX_SAFE_INTEGER, 'the job no longer exists', clock.now());
        return;
      }
      const body = JSON.stringify(job);
      const signed = signatureHeader(await this.deps.secret(event.workspace), unixSeconds(clock.now()), body);
      const res = await request(event.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'batchd-webhooks',
          [SIGNATURE_HEADER]: signed,
          'batchd-delivery': event.id,
          'batchd-event': `batch.${event.status.toLowerCase()}`,
        },
        body,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.body.dump().catch(() => undefined);
      if (res.statusCode >= 200 && res.statusCode < 300) {
        await queue.webhookDelivered(event.id, this.id, clock.now());
        return;
      }
      error = `the receiver answered ${res.statusCode}`;
    } catch (err) {
      error = (err as Error).message;
    }
    const delay = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** Math.max(0, Number(event.attempts) - 1));
    this.deps.log.warn({ job: event.job_id, attempt: Number(event.attempts), retryInMs: delay, err: error }, 'webhook delivery failed; will retry');
    await queue.rescheduleWebhook(event, this.id, clock.now() + delay, error, clock.now());
  }
}
