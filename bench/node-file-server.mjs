// A reference peer for scenario 1: the simplest fast way to serve a file over HTTP from
// one Node.js process (node:http, no framework, no registry logic), so the bench shows
// what one Node process can do on this machine beside nginx. Same URL mapping as the
// nginx peer: /v2/<repo>/blobs/sha256:<hex> -> <data-dir>/blobs/sha256/<ab>/<hex>.
// Reads 256 KiB at a time into two reused buffers, one read while the other is written.
// node bench/node-file-server.mjs PORT DATA_DIR
import { createServer } from 'node:http';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

const [port, dataDir] = process.argv.slice(2);
const SIZE = 256 * 1024;
const pool = [];

createServer(async (req, res) => {
  if (req.url === '/v2/') return res.end('{}');
  const hex = /^\/v2\/.+\/blobs\/sha256:([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
  const fd = hex ? await open(join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex)).catch(() => undefined) : undefined;
  if (!fd) {
    res.statusCode = 404;
    return res.end();
  }
  const { size } = await fd.stat();
  res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
  const buffers = [pool.pop() ?? Buffer.allocUnsafeSlow(SIZE), pool.pop() ?? Buffer.allocUnsafeSlow(SIZE)];
  const writes = [undefined, undefined];
  try {
    for (let position = 0, turn = 0; position < size; turn ^= 1) {
      if (writes[turn]) await writes[turn];
      const { bytesRead } = await fd.read(buffers[turn], 0, SIZE, position);
      position += bytesRead;
      const chunk = bytesRead === SIZE ? buffers[turn] : buffers[turn].subarray(0, bytesRead);
      writes[turn] = new Promise((resolve, reject) => res.write(chunk, (err) => (err ? reject(err) : resolve())));
      writes[turn].catch(() => undefined);
    }
    await Promise.all(writes);
    res.end();
    pool.push(...buffers);
  } catch {
    res.destroy();
  } finally {
    await fd.close();
  }
}).listen(Number(port), '127.0.0.1');
