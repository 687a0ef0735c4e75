/** One server-sent event: its `event` name (default "message") and its `data` lines joined. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Parses a text/event-stream body (the WHATWG rules the CLI needs: `event:` and `data:`
 * fields, comments such as `: ping`, events ended by a blank line, CRLF, LF or CR line
 * ends) as it arrives, holding at most one unfinished event in memory. An event the
 * stream ends before its blank line is dropped, as the standard says.
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  /** One line; returns the event it completes, if any. */
  const line = (text: string): SseEvent | undefined => {
    if (text === '') {
      const done = data.length ? { event: event || 'message', data: data.join('\n') } : undefined;
      event = '';
      data = [];
      return done;
    }
    if (text.startsWith(':')) return undefined;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? '' : text.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    return undefined;
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.search(/[\r\n]/)) >= 0) {
      // A CR at the end of what has arrived may be the first half of a CRLF: wait for more.
      if (buffer[end] === '\r' && end === buffer.length - 1) break;
      const text = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
      const done = line(text);
      if (done) yield done;
    }
  }
  if (buffer.endsWith('\r')) {
    const done = line(buffer.slice(0, -1));
    if (done) yield done;
  }
}
