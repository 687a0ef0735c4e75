#!/usr/bin/env node
// The slim CPU-only install: after `npm ci`, removes node-llama-cpp's GPU builds (CUDA,
// Vulkan) and the builds for other CPUs from node_modules, keeping only the CPU build of
// this platform (on a Mac, its one build, Metal included). The embedded engine then runs
// on the CPU, as it does on a machine without a GPU: getLlama's "auto" skips builds whose
// package is absent. `npm ci` brings them all back. `--dry-run` lists without removing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'node_modules', '@node-llama-cpp');
const dryRun = process.argv.includes('--dry-run');
const platform = { darwin: 'mac', win32: 'win' }[process.platform] ?? process.platform;

/** The package holding this platform's CPU build: linux-x64, linux-arm64, mac-arm64-metal, win-x64… */
const keep = (name) => name === `${platform}-${process.arch}` || (platform === 'mac' && name.startsWith(`mac-${process.arch}`));

function sizeOf(p) {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, e) => n + sizeOf(path.join(p, e)), 0);
}

if (!fs.existsSync(dir)) {
  console.error(`slim install: ${dir} does not exist; run npm ci first`);
  process.exit(1);
}
const names = fs.readdirSync(dir);
if (!names.some(keep)) {
  console.error(`slim install: no CPU build for ${platform}-${process.arch} in ${dir}; nothing removed (run npm ci)`);
  process.exit(1);
}
let freed = 0;
for (const name of names.filter((n) => !keep(n))) {
  const p = path.join(dir, name);
  const bytes = sizeOf(p);
  freed += bytes;
  console.log(`${dryRun ? 'would remove' : 'removed'} @node-llama-cpp/${name} (${Math.round(bytes / 2 ** 20)} MB)`);
  if (!dryRun) fs.rmSync(p, { recursive: true, force: true });
}
console.log(`slim install: kept @node-llama-cpp/${names.filter(keep).join(', ')}; ${dryRun ? 'would free' : 'freed'} ${Math.round(freed / 2 ** 20)} MB`);
