import fs from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, type ConfigInput } from '../../config.js';
import type { Db } from '../../store/database.js';
import { CliError } from '../cli-error.js';
import { printJson, table, timestamp } from '../format.js';
import { addKey, listKeys, mintKey, revokeKey } from '../../store/keys.js';

/** Opens the store named by --database / --data-dir (as `batchd serve` does) for one command. */
async function withStore<T>(opts: ConfigInput, mustExist: boolean, fn: (db: Db) => Promise<T>): Promise<T> {
  const config = loadConfig(opts);
  const sqlitePath = config.databaseUrl.startsWith('sqlite:') ? config.databaseUrl.slice('sqlite:'.length) : null;
  // Listing or revoking in a store that does not exist would only create an empty one.
  if (mustExist && sqlitePath && !fs.existsSync(sqlitePath)) {
    throw new CliError(`no batchd store at ${sqlitePath}: pass the server's --data-dir or --database (BATCHD_DATA_DIR, BATCHD_DATABASE_URL)`);
  }
  // Loaded here: the commands that talk to a server over HTTP need no database driver.
  const { openDatabase } = await import('../../store/database.js');
  const db = await openDatabase(config.databaseUrl, { pgPoolSize: 2 });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const storeOptions = (cmd: Command) =>
  cmd
    .option('--data-dir <dir>', 'data directory (BATCHD_DATA_DIR, default ./.batchd)')
    .option('--database <url>', 'database URL (BATCHD_DATABASE_URL, default SQLite in the data dir)');

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('Manage API keys (in the store itself: run where the data dir or database is reachable)');

  storeOptions(
    keys
      .command('create')
      .description('Mint an API key for a workspace and print it')
      .requiredOption('--workspace <name>', 'workspace the key belongs to')
      .option('--label <text>', 'a note stored with the key'),
  ).action(async (opts: { workspace: string; label?: string } & ConfigInput) => {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(opts.workspace)) throw new CliError('workspace names are 1-64 characters of letters, digits, _ . -');
    await withStore(opts, false, async (db) => {
      const key = mintKey();
      await addKey(db.kysely, opts.workspace, key, opts.label ?? null, Date.now());
      console.log(key);
    });
  });

  storeOptions(
    keys
      .command('ls')
      .description('List keys (their ids, workspaces and labels; a key itself is stored only as its hash)')
      .option('--workspace <name>', "only this workspace's keys")
      .option('--json', 'print JSON'),
  ).action(async (opts: { workspace?: string; json?: boolean } & ConfigInput) => {
    const rows = await withStore(opts, true, (db) => listKeys(db.kysely, opts.workspace));
    if (opts.json) return printJson(rows.map((r) => ({ ...r, created_at: Math.floor(r.created_at / 1000) })));
    if (rows.length === 0) return console.log('No keys.');
    console.log(
      table(
        ['ID', 'WORKSPACE', 'LABEL', 'CREATED (UTC)'],
        rows.map((r) => [r.id, r.workspace, r.label ?? '', timestamp(r.created_at / 1000)]),
      ),
    );
  });

  storeOptions(
    keys.command('revoke <id-or-key>').description('Revoke a key, named by its id (from keys ls) or by the key itself; refused from the next request on'),
  ).action(async (idOrKey: string, opts: ConfigInput) => {
    const row = await withStore(opts, true, (db) => revokeKey(db.kysely, idOrKey));
    if (!row) throw new CliError(`no API key with id '${idOrKey}' (nor a key of that value) in this store: see batchd keys ls`);
    console.log(`Revoked key ${row.id} of workspace '${row.workspace}'${row.label ? ` (${row.label})` : ''}`);
  });
}
