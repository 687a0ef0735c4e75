import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface LockEntry {
  version?: string;
  integrity?: string;
  optional?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
interface Lock {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}
interface PackageJson {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  bin: Record<string, string>;
}

const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as Lock;
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;
const entries = Object.entries(lock.packages).filter(([at]) => at !== '');

/**
 * npm refuses to install a package whose os/cpu/libc exclude the machine (EBADPLATFORM)
 * unless it is optional: a restricted hard dependency anywhere in the tree breaks the
 * install on every other platform.
 */
describe('package-lock.json installs on every platform', () => {
  test('the lock is npm 7+ (lockfileVersion 3), read by npm ci as is', () => {
    assert.ok(lock.lockfileVersion >= 2, `lockfileVersion ${lock.lockfileVersion}`);
    assert.ok(entries.length > 100);
  });

  test('no package that is not optional carries os, cpu or libc restrictions', () => {
    const restricted = entries
      .filter(([, e]) => !e.optional && (e.os || e.cpu || e.libc))
      .map(([at, e]) => `${at} (${[e.os, e.cpu, e.libc].flat().filter(Boolean).join(' ')})`);
    assert.deepEqual(restricted, [], 'platform-restricted packages that npm must install');
  });

  test("package.json names no platform package directly: node-llama-cpp's and esbuild's builds come as their own optional dependencies", () => {
    const direct = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies), ...Object.keys(pkg.optionalDependencies ?? {})];
    const platformPackages = direct.filter((name) => {
      const e = lock.packages[`node_modules/${name}`];
      return e?.os || e?.cpu || e?.libc || /^@(node-llama-cpp|esbuild|rollup|rolldown)\//.test(name);
    });
    assert.deepEqual(platformPackages, []);
  });

  test('node-llama-cpp is pinned, with its CPU, CUDA, Vulkan and Metal builds in the lock as optional entries of the same version', () => {
    const version = pkg.dependencies['node-llama-cpp'];
    assert.match(version ?? '', /^\d+\.\d+\.\d+$/, 'an exact version, so the lock and the registry agree');
    const main = lock.packages['node_modules/node-llama-cpp'];
    assert.equal(main?.version, version);
    assert.ok(!main?.optional && !main?.dev, 'node-llama-cpp itself is a runtime dependency');
    const builds = Object.keys(main?.optionalDependencies ?? {});
    const wanted = [
      'linux-x64',
      'linux-x64-cuda',
      'linux-x64-vulkan',
      'linux-arm64',
      'mac-arm64-metal',
      'mac-x64',
      'win-x64',
      'win-x64-cuda',
      'win-x64-vulkan',
    ];
    for (const name of wanted.map((n) => `@node-llama-cpp/${n}`)) {
      assert.ok(builds.includes(name), `${name} is one of node-llama-cpp's optional dependencies`);
      const e = lock.packages[`node_modules/${name}`];
      assert.ok(e, `${name} is in the lock`);
      assert.equal(e.optional, true, `${name} is optional`);
      assert.equal(e.version, version, `${name} has node-llama-cpp's version`);
      assert.match(e.integrity ?? '', /^sha512-/, `${name} has an integrity hash`);
      assert.ok(e.os?.length && e.cpu?.length, `${name} names its platform`);
    }
    for (const kind of ['cuda', 'vulkan', 'metal'])
      assert.ok(
        builds.some((b) => b.includes(kind)),
        `a ${kind} build`,
      );
  });

  test('tsx (and the esbuild binary under it) are dev dependencies: the compiled dist/ runs without them', () => {
    assert.equal(pkg.dependencies.tsx, undefined);
    assert.ok(pkg.devDependencies.tsx);
    assert.equal(lock.packages['node_modules/tsx']?.dev, true);
    assert.equal(lock.packages['node_modules/esbuild']?.dev, true);
    assert.equal(pkg.bin.batchd, 'bin/batchd.js');
  });
});
