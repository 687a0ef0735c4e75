import type { Api } from '../api';

/** Starts a browser download of a file through a short-lived signed URL: the bytes never pass through page memory. */
export async function startDownload(api: Api, fileId: string) {
  const a = document.createElement('a');
  a.href = await api.downloadUrl(fileId);
  a.download = '';
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}
