import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { FileObject, ListOf } from '../api-types.js';
import { CliError } from '../cli-error.js';
import { bytes, printJson, table, timestamp } from '../format.js';
import { uploadWithProgress } from '../progress.js';
import { clientCommand } from './client-command.js';

export function registerFiles(program: Command): void {
  const files = program.command('files').description('List, upload, download and delete files');

  clientCommand<{ purpose?: string; search?: string; limit?: string; page?: string; json?: boolean }>(
    files,
    'ls',
    "List this workspace's files (uploads and job results), newest first",
    (cmd) =>
      cmd
        .option('--purpose <purpose>', 'only files of this purpose: batch, fine-tune or ocr')
        .option('--search <text>', 'only files whose name contains this')
        .option('--limit <n>', 'files per page (1-1000)', '100')
        .option('--page <n>', 'page number, from 0', '0')
        .option('--json', 'print the API list object as JSON'),
    async (client, _args, opts) => {
      const q = new URLSearchParams({ page: opts.page ?? '0', page_size: opts.limit ?? '100' });
      if (opts.purpose) q.set('purpose', opts.purpose);
      if (opts.search) q.set('search', opts.search);
      const list = await client.json<ListOf<FileObject>>('GET', `/v1/files?${q}`, 'list files');
      if (opts.json) return printJson(list);
      if (list.data.length === 0) {
        process.stdout.write('No files.\n');
        return;
      }
      const rows = list.data.map((f) => [f.id, f.filename, f.purpose, f.source, bytes(f.bytes), f.num_lines ?? '-', timestamp(f.created_at)]);
      process.stdout.write(`${table(['ID', 'NAME', 'PURPOSE', 'SOURCE', 'SIZE', 'LINES', 'CREATED (UTC)'], rows)}\n`);
      if (list.total > list.data.length) process.stdout.write(`${list.data.length} of ${list.total} files shown (--page, --limit for more)\n`);
    },
  );

  clientCommand<{ purpose: string; json?: boolean }>(
    files,
    'upload <file>',
    'Upload a file (streamed, with a progress bar); batch files are checked line by line and a bad line is named',
    (cmd) => cmd.option('--purpose <purpose>', 'batch, fine-tune or ocr', 'batch').option('--json', 'print the file object as JSON'),
    async (client, [file], opts) => {
      const uploaded = await uploadWithProgress(client, file!, opts.purpose);
      if (opts.json) return printJson(uploaded);
      const lines = uploaded.num_lines === null ? '' : `, ${uploaded.num_lines} ${uploaded.purpose === 'batch' ? 'requests' : 'lines'}`;
      process.stdout.write(`Uploaded ${path.basename(file!)} as file ${uploaded.id} (${uploaded.purpose}, ${bytes(uploaded.bytes)}${lines})\n`);
    },
  );

  clientCommand<{ output?: string }>(
    files,
    'download <id>',
    "Download a file's content to --output, or to stdout",
    (cmd) => cmd.option('-o, --output <path>', 'write to this file (written as <path>.part, renamed when complete)'),
    async (client, [id], opts) => {
      if (!opts.output) {
        await client.download(id!, process.stdout);
        return;
      }
      const dest = path.resolve(opts.output);
      if (fs.statSync(dest, { throwIfNoEntry: false })?.isDirectory()) throw new CliError(`--output ${dest} is a directory: give a file path`);
      const n = await client.download(id!, dest);
      process.stdout.write(`Saved file ${id} to ${dest} (${bytes(n)})\n`);
    },
  );

  clientCommand<{ json?: boolean }>(
    files,
    'rm <id>',
    'Delete a file (its bytes go at once, or when the last job reading it ends)',
    (cmd) => cmd.option('--json', 'print the API answer as JSON'),
    async (client, [id], opts) => {
      const res = await client.json<{ id: string; deleted: boolean }>('DELETE', `/v1/files/${encodeURIComponent(id!)}`, `delete file '${id}'`);
      if (opts.json) return printJson(res);
      process.stdout.write(`Deleted file ${res.id}\n`);
    },
  );
}
