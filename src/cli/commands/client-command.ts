import type { Command } from 'commander';
import { BatchdClient } from '../client.js';
import { resolveConnection, type ConnectionFlags } from '../connection.js';

/**
 * A subcommand that talks to a server: it takes --url, --api-key and --data-dir (where a
 * local server's generated key is), and its action gets a client for them. The action
 * returns the exit code; the process then exits at once rather than waiting for idle
 * keep-alive sockets to time out.
 */
export function clientCommand<O extends object>(
  parent: Command,
  nameAndArgs: string,
  description: string,
  configure: (cmd: Command) => Command,
  action: (client: BatchdClient, args: string[], opts: O) => Promise<number | void>,
): Command {
  const cmd = parent
    .command(nameAndArgs)
    .description(description)
    .option('--url <url>', 'batchd server (BATCHD_URL, default http://127.0.0.1:8787)')
    .option('--api-key <key>', 'API key (BATCHD_API_KEY, then MISTRAL_API_KEY, then <data-dir>/default-api-key for a server on this machine)')
    .option('--data-dir <dir>', "a local server's data dir, to read its default-api-key (BATCHD_DATA_DIR, default ./.batchd)");
  configure(cmd);
  cmd.action(async (...received: unknown[]) => {
    // commander passes the positional arguments, then the options, then the command.
    const args = received.slice(0, -2) as string[];
    const opts = received[received.length - 2] as O & ConnectionFlags;
    const client = new BatchdClient(resolveConnection(opts));
    const code = (await action(client, args, opts)) ?? 0;
    process.exit(code);
  });
  return cmd;
}

/** Collects a repeatable option's values. */
export const collect = (v: string, prev: string[] = []) => [...prev, v];
