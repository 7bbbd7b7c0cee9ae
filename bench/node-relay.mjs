// Reference peers for scenario 7: the simplest relays one Node.js process can be, nothing
// stored, no registry logic, so the bench shows what Node itself costs on a cold path beside
// distribution's proxy and the sha256 floor.
//   http:  node:http in front, undici's request behind (what cargohold is built on), each
//          chunk written on as it comes, with backpressure;
//   hash:  the same, sha256ing every chunk in the same thread, as a verifying mirror must;
//   pipe:  raw TCP: the upstream's status line and headers read by hand, then its socket
//          piped into the client's (no HTTP parsing of the body, no framework, no hashing).
// Blob GETs only (the bench's upstream serves them itself, no redirects).
// node bench/node-relay.mjs PORT UPSTREAM_URL http|hash|pipe
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { request } from 'undici';

const [port, upstream, mode] = process.argv.slice(2);
const origin = new URL(upstream);

function httpRelay(hashing) {
  return createServer(async (req, res) => {
    if (req.url === '/v2/') return res.end('{}');
    try {
      const up = await request(new URL(req.url ?? '/', origin), { method: 'GET' });
      res.writeHead(up.statusCode, { 'content-length': up.headers['content-length'] ?? '0', 'content-type': 'application/octet-stream' });
      const hash = hashing ? createHash('sha256') : undefined;
      for await (const chunk of up.body) {
        hash?.update(chunk);
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
      }
      hash?.digest();
      res.end();
    } catch {
      res.destroy();
    }
  });
}

function pipeRelay() {
  return createTcpServer((client) => {
    client.on('error', () => undefined);
    client.once('data', (request) => {
      const path = request.toString('latin1').split(' ')[1] ?? '/';
      if (path === '/v2/') return client.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
      const up = connect(Number(origin.port || 80), origin.hostname, () =>
        up.write(`GET ${path} HTTP/1.1\r\nhost: ${origin.host}\r\nconnection: close\r\n\r\n`),
      );
      up.on('error', () => client.destroy());
      let head = Buffer.alloc(0);
      const onHead = (chunk) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        up.off('data', onHead);
        const length = /\r\ncontent-length: *(\d+)/i.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? '0';
        const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1').split(' ')[1];
        client.write(`HTTP/1.1 ${status} X\r\ncontent-length: ${length}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n`);
        client.write(head.subarray(end + 4));
        up.pipe(client);
      };
      up.on('data', onHead);
    });
  });
}

(mode === 'pipe' ? pipeRelay() : httpRelay(mode === 'hash')).listen(Number(port), '127.0.0.1');
