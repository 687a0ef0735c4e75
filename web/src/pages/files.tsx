import { useRef, useState } from 'preact/hooks';
import type { Api } from '../api';
import { ActionButton, DataTable, ErrorNote } from '../components';
import { bytes, count, percent, shortDateTime } from '../format';
import { usePoll } from '../hooks';
import type { FileObject } from '../types';
import { startDownload } from './download';

interface Upload {
  name: string;
  sent: number;
  total: number;
  result?: FileObject;
  error?: Error;
}

/** Upload (drag and drop or a file picker, with byte progress) and the workspace's files. */
export function FilesPage({ api }: { api: Api }) {
  const files = usePoll(() => api.files(), 5000, [api]);
  const [upload, setUpload] = useState<Upload | undefined>();
  const [dragging, setDragging] = useState(false);
  const [actionError, setActionError] = useState<Error | undefined>();
  const input = useRef<HTMLInputElement>(null);

  const start = async (file: File) => {
    setUpload({ name: file.name, sent: 0, total: file.size });
    const { done } = api.upload(file, 'batch', (sent, total) => setUpload((u) => u && { ...u, sent, total }));
    try {
      const result = await done;
      setUpload((u) => u && { ...u, sent: u.total, result });
      files.refresh();
    } catch (err) {
      setUpload((u) => u && { ...u, error: err as Error });
    }
    if (input.current) input.current.value = '';
  };

  return (
    <section aria-labelledby="files-title">
      <h1 id="files-title">Files</h1>
      <div
        class={dragging ? 'dropzone dragging' : 'dropzone'}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          const f = e.dataTransfer?.files[0];
          if (f) void start(f);
        }}
      >
        <p>
          <strong>Drop a JSONL batch file here</strong> or
        </p>
        <label class="button button-primary" for="upload-input">
          Choose a file…
        </label>
        <input
          id="upload-input"
          ref={input}
          class="visually-hidden"
          type="file"
          accept=".jsonl,.json,.txt,application/jsonl,application/x-ndjson"
          onChange={(e) => {
            const f = (e.currentTarget as HTMLInputElement).files?.[0];
            if (f) void start(f);
          }}
        />
        <p class="muted small">Each line: {'{"custom_id": "0", "body": {…request…}}'}. Uploaded with purpose "batch".</p>
      </div>
      {upload ? (
        <div class="card upload" aria-live="polite">
          <label for="upload-progress">
            {upload.result ? 'Uploaded' : upload.error ? 'Upload failed' : 'Uploading'} {upload.name}
          </label>
          <progress id="upload-progress" max={upload.total || 1} value={upload.sent} />
          <span class="small">
            {bytes(upload.sent)} of {bytes(upload.total)} ({percent(upload.sent, upload.total || 1)}%)
          </span>
          {upload.result ? (
            <p>
              Stored as <span class="mono">{upload.result.id}</span> ({count(upload.result.num_lines ?? 0)} lines).{' '}
              <a href={`#/new?file=${upload.result.id}`}>Create a job from it</a>
            </p>
          ) : null}
          <ErrorNote error={upload.error} />
        </div>
      ) : null}
      <ErrorNote error={files.error ?? actionError} />
      {files.data && files.data.data.length === 0 ? <p class="empty">No files yet.</p> : null}
      {files.data && files.data.data.length > 0 ? (
        <DataTable columns={['File', 'Id', 'Purpose', 'Size', 'Lines', 'Created', 'Actions']}>
          {files.data.data.map((f) => (
            <tr key={f.id} data-file-id={f.id}>
              <th scope="row">{f.filename}</th>
              <td class="mono small" title={f.id}>
                {f.id.slice(0, 8)}
              </td>
              <td>{f.purpose}</td>
              <td class="nowrap">{bytes(f.bytes)}</td>
              <td>{f.num_lines === null ? '—' : count(f.num_lines)}</td>
              <td class="nowrap">{shortDateTime(f.created_at)}</td>
              <td class="row-actions">
                <ActionButton
                  onClick={async () => {
                    setActionError(undefined);
                    await startDownload(api, f.id).catch((err: Error) => setActionError(err));
                  }}
                >
                  Download <span class="visually-hidden">{f.filename}</span>
                </ActionButton>
                {f.purpose === 'batch' ? (
                  <a class="button button-secondary" href={`#/new?file=${f.id}`}>
                    Create job <span class="visually-hidden">from {f.filename}</span>
                  </a>
                ) : null}
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </section>
  );
}
