import fs from 'node:fs';
import path from 'node:path';
import { CliError } from './cli-error.js';

export const DEFAULT_URL = 'http://127.0.0.1:8787';

/** Where a client command finds its server and its key. */
export interface Connection {
  /** Base URL without a trailing slash. */
  url: string;
  key: string;
}

export interface ConnectionFlags {
  url?: string;
  apiKey?: string;
  dataDir?: string;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0']);

/**
 * The server is `--url`, else BATCHD_URL, else the default address of `batchd serve`.
 * The key is `--api-key`, else BATCHD_API_KEY, else MISTRAL_API_KEY (so a shell set up
 * for Mistral's SDK works unchanged), else — for a server on this machine only — the key
 * `batchd serve` generated at its first start in `<data-dir>/default-api-key`: a remote
 * server never has that file, and reading it for one would send a local key elsewhere.
 */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const raw = flags.url ?? env.BATCHD_URL ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new CliError(`BATCHD_URL / --url is not a URL: '${raw}' (expected e.g. ${DEFAULT_URL})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`BATCHD_URL / --url must be http:// or https://, got '${raw}'`);
  const url = raw.replace(/\/+$/, '');
  const key = flags.apiKey ?? nonEmpty(env.BATCHD_API_KEY) ?? nonEmpty(env.MISTRAL_API_KEY) ?? localDefaultKey(parsed, flags.dataDir ?? env.BATCHD_DATA_DIR);
  return { url, key };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v && v.trim() ? v.trim() : undefined;
}

function localDefaultKey(url: URL, dataDir: string | undefined): string {
  const file = path.join(path.resolve(dataDir ?? './.batchd'), 'default-api-key');
  if (!LOCAL_HOSTS.has(url.hostname)) {
    throw new CliError(`no API key: set BATCHD_API_KEY (or MISTRAL_API_KEY, or pass --api-key) for ${url.origin}`);
  }
  try {
    const key = fs.readFileSync(file, 'utf8').trim();
    if (key) return key;
  } catch {
    /* no such file: the message below says what to do */
  }
  throw new CliError(
    `no API key: set BATCHD_API_KEY (or MISTRAL_API_KEY, or pass --api-key), or point --data-dir at the server's data dir (no key in ${file})`,
  );
}
