import type { Db } from '../store/database.js';
import { getOrCreateSetting, randomSecret } from '../store/settings.js';

/**
 * A workspace's webhook signing secret: 32 random bytes (hex), created on first use and
 * kept in the store's `settings` table under `webhook_secret:<workspace>`, so every node
 * of a cluster signs with the same one and it survives restarts. Clients read it with
 * GET /v1/webhooks/secret (routes.ts).
 */
export function webhookSecret(db: Db, workspace: string): Promise<string> {
  return getOrCreateSetting(db.kysely, `webhook_secret:${workspace}`, randomSecret);
}
