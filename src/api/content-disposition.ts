// Bidirectional controls (LRE/RLE/PDF/LRO/RLO, isolates, LRM/RLM/ALM) reorder how a name is shown:
// "invoice\u202Egpj.exe" displays as "invoiceexe.jpg". They are dropped from the header's names.
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// Outside printable ASCII, or a quote or backslash (which would end or escape the quoted string).
const NOT_PLAIN = /[^\x20-\x21\x23-\x5b\x5d-\x7e]/g;

/**
 * `Content-Disposition: attachment` for a stored file name (RFC 6266): a quoted ASCII
 * `filename` for every client, plus `filename*=UTF-8''…` (RFC 8187) when the name is not
 * plain ASCII. Header values must be Latin-1 without control characters, so a raw
 * non-ASCII name (日本語.jsonl, an emoji) cannot be sent as is.
 */
export function contentDisposition(filename: string): string {
  const name = filename.replace(BIDI_CONTROLS, '').replace(LONE_SURROGATE, '\ufffd') || 'file';
  const fallback = name.replace(NOT_PLAIN, '_');
  if (fallback === name) return `attachment; filename="${fallback}"`;
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeExtValue(name)}`;
}

/** RFC 8187 ext-value characters: percent-encode all but attr-char (encodeURIComponent leaves ' ( ) * as they are). */
function encodeExtValue(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
