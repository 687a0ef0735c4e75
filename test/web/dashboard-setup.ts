import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BUILT_DASHBOARD_DIR } from '../../src/web/static.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of the browser tests: look at them (docs/images/ has copies for the README). */
export const SHOTS_DIR = path.join(ROOT, 'test', '.output', 'web');

/** Debian's chromium, installed by the project's own script when missing (playwright-core downloads no browser). */
export function ensureChromium() {
  if (fs.existsSync(CHROMIUM)) return;
  const res = spawnSync('sh', [path.join(ROOT, 'scripts', 'ensure-chromium.sh')], { stdio: 'inherit', timeout: 600_000 });
  if (res.status !== 0 || !fs.existsSync(CHROMIUM)) throw new Error(`scripts/ensure-chromium.sh could not install ${CHROMIUM} (exit ${res.status})`);
}

function newestMtime(dir: string): number {
  return Math.max(
    ...fs.readdirSync(dir, { withFileTypes: true }).map((d) => {
      const p = path.join(dir, d.name);
      return d.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs;
    }),
  );
}

/** The server's file the dashboard compiles in too: the API objects it shares with the CLI. */
const SHARED_WITH_SERVER = path.join(ROOT, 'src', 'api', 'objects.ts');

/** The built dashboard, rebuilt when its sources have changed since (npm test builds it first; a lone run of this file may not have). */
export function ensureDashboardBuilt() {
  const index = path.join(BUILT_DASHBOARD_DIR, 'index.html');
  const newest = Math.max(newestMtime(path.join(ROOT, 'web')), fs.statSync(SHARED_WITH_SERVER).mtimeMs);
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= newest) return;
  const res = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'web/vite.config.ts'], {
    cwd: ROOT,
    stdio: 'inherit',
    timeout: 300_000,
  });
  if (res.status !== 0) throw new Error(`vite build of the dashboard failed (exit ${res.status})`);
}

/** Chromium's flags for a quiet, offline, sandbox-free headless run (the test machine runs as root). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
