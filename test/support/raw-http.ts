import { connect } from 'node:net';

export interface RawReply {
  /** Everything the server sent until it closed the connection. */
  text: string;
  status: number;
  /** Header names lowercased. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends exactly these bytes over a fresh TCP connection (half-closing after them) and
 * reads until the server closes: for requests no HTTP client library would send.
 */
export function rawRequest(base: string, request: string): Promise<RawReply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.end(request));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(parseReply(text)));
    socket.on('error', reject);
  });
}

function parseReply(text: string): RawReply {
  const split = text.indexOf('\r\n\r\n');
  const head = split === -1 ? text : text.slice(0, split);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { text, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: split === -1 ? '' : text.slice(split + 4) };
}
