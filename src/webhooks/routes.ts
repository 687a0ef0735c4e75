import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../api/context.js';
import { webhookSecret } from './secret.js';
import { SIGNATURE_HEADER } from './signature.js';

/** GET /v1/webhooks/secret: the caller's workspace's signing secret, to verify deliveries with (README). */
export function registerWebhookRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/v1/webhooks/secret', async (req) => ({
    object: 'webhook.secret',
    workspace: req.principal.workspace,
    secret: await webhookSecret(ctx.db, req.principal.workspace),
    header: SIGNATURE_HEADER,
    scheme: 'v1=hex(HMAC-SHA256(secret, `${t}.${body}`))',
  }));
}
