import { randomUUID } from 'node:crypto';
import type { WebhookOutboxTable } from '../store/schema.js';
import type { Q } from './types.js';

/** How long a terminal event is retried before it is given up (issue 16: until a 2xx or 24 hours). */
export const WEBHOOK_GIVE_UP_MS = 24 * 3600_000;

export type WebhookEvent = WebhookOutboxTable;

/**
 * Queues the webhook event of a job that just reached `status` — to be called inside
 * the transaction that moved it there, so the event exists exactly when the transition
 * does. Jobs without a webhook_url queue nothing; a second call for the same job and
 * status (a transition re-run after a crash) adds nothing.
 */
export async function enqueueWebhook(tx: Q, jobId: string, status: string, now: number): Promise<void> {
  await tx
    .insertInto('webhook_outbox')
    .columns(['id', 'job_id', 'workspace', 'url', 'status', 'created_at', 'attempts', 'next_attempt_at', 'give_up_at'])
    .expression((eb) =>
      eb
        .selectFrom('batch_jobs')
        .select([
          eb.val(randomUUID()).as('id'),
          'id as job_id',
          'workspace',
          'webhook_url as url',
          eb.val(status).as('status'),
          eb.val(now).as('created_at'),
          eb.val(0).as('attempts'),
          eb.val(now).as('next_attempt_at'),
          eb.val(now + WEBHOOK_GIVE_UP_MS).as('give_up_at'),
        ])
        .where('id', '=', jobId)
        .where('webhook_url', 'is not', null),
    )
    .onConflict((oc) => oc.columns(['job_id', 'status']).doNothing())
    .execute();
}

/**
 * Leases up to `limit` due events to `owner` (open, due, and not leased or leased by a
 * deliverer whose lease ran out: it crashed mid-POST, so the event is sent again).
 * Each row is taken by a guarded update, so two deliverers never hold one event at once.
 */
export async function claimWebhooks(db: Q, owner: string, now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]> {
  const due = await db
    .selectFrom('webhook_outbox')
    .select('id')
    .where('delivered_at', 'is', null)
    .where('failed_at', 'is', null)
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute();
  const claimed: WebhookEvent[] = [];
  for (const { id } of due) {
    const row = await db
      .updateTable('webhook_outbox')
      .set((eb) => ({ lease_owner: owner, lease_expires_at: now + leaseMs, attempts: eb('attempts', '+', 1) }))
      .where('id', '=', id)
      .where('delivered_at', 'is', null)
      .where('failed_at', 'is', null)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
      .returningAll()
      .executeTakeFirst();
    if (row) claimed.push(row);
  }
  return claimed;
}

/** The receiver answered 2xx: the event is done. Only its lease holder may say so. */
export async function markWebhookDelivered(db: Q, id: string, owner: string, now: number): Promise<boolean> {
  const res = await db
    .updateTable('webhook_outbox')
    .set({ delivered_at: now, lease_owner: null, lease_expires_at: null, last_error: null })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('delivered_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * The attempt failed: try again at `nextAt`, or give the event up (failed_at) when that
 * is past its give_up_at. Only its lease holder may reschedule it.
 */
export async function rescheduleWebhook(db: Q, event: WebhookEvent, owner: string, nextAt: number, error: string, now: number): Promise<void> {
  const giveUp = nextAt > Number(event.give_up_at);
  await db
    .updateTable('webhook_outbox')
    .set({
      next_attempt_at: giveUp ? Number(event.next_attempt_at) : nextAt,
      failed_at: giveUp ? now : null,
      lease_owner: null,
      lease_expires_at: null,
      last_error: error.slice(0, 1000),
    })
    .where('id', '=', event.id)
    .where('lease_owner', '=', owner)
    .where('delivered_at', 'is', null)
    .execute();
}

/** A job's webhook events, oldest first (tests, diagnostics). */
export async function webhookEvents(db: Q, jobId: string): Promise<WebhookEvent[]> {
  return db.selectFrom('webhook_outbox').selectAll().where('job_id', '=', jobId).orderBy('created_at').execute();
}
