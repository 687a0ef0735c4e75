import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';
import { notExpired, type FileRow } from './files.js';

type Q = Kysely<Database> | Transaction<Database>;

export interface FileCursor {
  /** The file the page starts after (OpenAI's `after`), or null for the first page. */
  after: FileRow | null;
  limit: number;
  ascending: boolean;
  purpose?: string;
}

/**
 * OpenAI's cursor paging of the file list: `limit` + 1 rows (the extra one tells the caller
 * there are more) after the cursor file in (created_at, id) order, over the files a client
 * may see (the workspace's, not deleted, not hidden, not expired, as files.ts reads them).
 */
export async function listFilesAfter(db: Q, workspace: string, c: FileCursor, now: number): Promise<FileRow[]> {
  let q = db.selectFrom('files').where('workspace', '=', workspace).where('deleted_at', 'is', null).where('hidden', '=', 0).where(notExpired(now));
  if (c.purpose) q = q.where('purpose', '=', c.purpose);
  if (c.after) {
    const at = Number(c.after.created_at);
    const id = c.after.id;
    const op = c.ascending ? '>' : '<';
    q = q.where((eb) => eb.or([eb('created_at', op, at), eb.and([eb('created_at', '=', at), eb('id', op, id)])]));
  }
  const dir = c.ascending ? 'asc' : 'desc';
  return q
    .selectAll()
    .orderBy('created_at', dir)
    .orderBy('id', dir)
    .limit(c.limit + 1)
    .execute();
}
