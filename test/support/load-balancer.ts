import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startDaemon, type Daemon } from './peers.js';
import { waitFor } from './wait.js';

export interface LoadBalancer {
  url: string;
  host: string;
  daemon: Daemon;
  /** Which backends (host:port, comma-separated when nginx retried on another) each request went to, from nginx's access log. */
  requests(): Array<{ method: string; uri: string; status: number; backend: string }>;
  stop(): Promise<void>;
}

/**
 * Debian's nginx as a round-robin load balancer in front of the replicas, as a team would
 * run one: HTTP/1.1 keep-alive to the backends, no buffering (blobs stream through), and a
 * GET that cannot reach one replica (it died) is retried on the next.
 */
export async function startLoadBalancer(dir: string, backends: string[]): Promise<LoadBalancer> {
  mkdirSync(join(dir, 'temp'), { recursive: true });
  const port = await freePort();
  const conf = [
    'worker_processes 1;',
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    "  log_format lb '$request_method $request_uri $status $upstream_addr';",
    `  access_log ${join(dir, 'access.log')} lb;`,
    `  client_body_temp_path ${join(dir, 'temp')};`,
    `  proxy_temp_path ${join(dir, 'temp')};`,
    '  upstream cargohold {',
    ...backends.map((b) => `    server ${b} max_fails=1 fail_timeout=2s;`),
    '    keepalive 32;',
    '  }',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    client_max_body_size 0;',
    '    location / {',
    '      proxy_pass http://cargohold;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_set_header Host $http_host;',
    '      proxy_buffering off;',
    '      proxy_request_buffering off;',
    '      proxy_read_timeout 300s;',
    '      proxy_next_upstream error timeout http_502;',
    '    }',
    '  }',
    '}',
  ].join('\n');
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const daemon = startDaemon('nginx', ['-c', confFile, '-p', dir, '-g', 'daemon off;'], join(dir, 'stderr.log'));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200, 15_000, 'nginx to proxy');
  const log = join(dir, 'access.log');
  return {
    url,
    host: `127.0.0.1:${port}`,
    daemon,
    requests: () =>
      (existsSync(log) ? readFileSync(log, 'utf8') : '')
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          // $upstream_addr lists every backend tried: "127.0.0.1:1, 127.0.0.1:2".
          const [method, uri, status, ...backends] = line.split(' ');
          return { method: method as string, uri: uri as string, status: Number(status), backend: backends.join(' ') };
        }),
    stop: () => daemon.stop(),
  };
}
