import { startNodeFlags } from '../test/support/cli-process.js';
import { median } from './measure.js';
import type { ColdOnePath, ManifestCase, ManifestServer, Results } from './results.js';

/** Renders the results as markdown: one table per scenario, then the goals with pass/fail. */
function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** Median with the range of the runs: "1.23 (1.10-1.31)". */
function spread(samples: readonly number[] | undefined, digits = 2): string {
  if (!samples || samples.length === 0) return 'n/a';
  const m = fixed(median(samples), digits);
  return samples.length === 1 ? m : `${m} (${fixed(Math.min(...samples), digits)}-${fixed(Math.max(...samples), digits)})`;
}

const ratio = (a: readonly number[] | undefined, b: readonly number[] | undefined) => (a && b ? median(a) / median(b) : Number.NaN);
const times = (n: number) => `${fixed(n)}x`;
const mib = (bytes: number) => `${fixed(bytes / 1024 ** 2, 1)} MiB`;

interface Goal {
  goal: string;
  measured: string;
  pass: boolean;
}

export function goals(r: Results): Goal[] {
  const t = r.throughput;
  const list: Goal[] = [];
  for (const key of ['c1', 'c32'] as const) {
    const conns = key === 'c1' ? '1 connection' : '32 connections';
    const vsNginx = ratio(t.cargohold[key], t.nginx[key]);
    const vsProxy = ratio(t.cargohold[key], t.proxy[key]);
    list.push({ goal: `warm throughput >= 0.8x nginx (${conns})`, measured: times(vsNginx), pass: vsNginx >= 0.8 });
    list.push({ goal: `warm throughput >= 2x distribution (${conns})`, measured: times(vsProxy), pass: vsProxy >= 2 });
  }
  const pull = ratio(r.coldPull.cargohold, r.coldPull.direct);
  list.push({ goal: 'cold pull <= 1.1x direct (cargohold started for the pull)', measured: times(pull), pass: pull <= 1.1 });
  const running = ratio(r.coldPull.cargoholdRunning, r.coldPull.direct);
  list.push({ goal: 'cold pull <= 1.1x direct (running cargohold, image not cached)', measured: times(running), pass: running <= 1.1 });
  // One cold client: every byte is hashed before the last one goes out, so the floor is the
  // sha256 time itself; 1.3x leaves 30% for receiving, writing and sending alongside it.
  const one = r.coldOne.total;
  for (const [path, label] of [
    ['cargohold', 'cargohold started for it'],
    ['cargoholdRunning', 'running cargohold, blob not cached'],
  ] as const) {
    const vsFloor = ratio(one[path], r.coldOne.floor);
    list.push({ goal: `cold single client <= 1.3x the sha256 floor (${label})`, measured: times(vsFloor), pass: vsFloor <= 1.3 });
    const vsProxy = ratio(one[path], one.proxy);
    list.push({ goal: `cold single client faster than distribution's proxy (${label})`, measured: times(vsProxy), pass: vsProxy < 1 });
  }
  if (r.replicas.replicasBytes.length > 0) {
    const shared = Math.max(...r.replicas.replicasBytes) / r.blobSize;
    list.push({
      goal: 'upstream bytes = 1.0x the blob for 20 cold clients over 3 replicas (worst run)',
      measured: times(shared),
      pass: Math.abs(shared - 1) < 0.005,
    });
  }
  const bytes = Math.max(...r.cold.cargohold.bytes20) / r.blobSize;
  list.push({ goal: 'upstream bytes = 1.0x the blob for 20 cold clients (worst run)', measured: times(bytes), pass: Math.abs(bytes - 1) < 0.005 });
  const cases: Array<[ManifestCase, string]> = [
    ['headTag', 'HEAD by tag'],
    ['getTag', 'GET by tag'],
    ['getDigest', 'GET by digest'],
  ];
  for (const [server, label] of [
    ['cargohold', 'default tag TTL'],
    ['cargohold-ttl0', 'tag TTL 0'],
  ] as Array<[ManifestServer, string]>) {
    for (const [c, name] of cases) {
      if (!r.manifests[server][c]) continue;
      const x = ratio(r.manifests[server][c], r.manifests.proxy[c]);
      list.push({ goal: `manifest ${name} req/s >= 3x distribution (${label})`, measured: times(x), pass: x >= 3 });
    }
  }
  const rss: Array<[string, number]> = [
    ['scenario 1, warm throughput', r.warmRss.cargohold],
    ['scenario 3, 20 cold clients (worst run)', Math.max(...r.cold.cargohold.rss20)],
  ];
  if (r.memory) {
    rss.push([`20 clients on a cached ${mib(r.memory.size)} blob`, r.memory.cachedRss]);
    rss.push([`20 clients on a cold ${mib(r.memory.size)} blob`, r.memory.coldRss]);
  }
  for (const [name, mb] of rss) list.push({ goal: `cargohold peak RSS <= 150 MB (${name})`, measured: `${fixed(mb, 0)} MB`, pass: mb <= 150 });
  // A scenario left out (BENCH_ONLY) or broken has no figure: neither pass nor fail.
  return list.filter((g) => !g.measured.startsWith('n/a'));
}

export function renderMarkdown(r: Results): string {
  const m = r.meta;
  const t = r.throughput;
  const out: string[] = [];
  out.push('# cargohold benchmark results', '');
  out.push(
    `Reproduce: \`npm run bench\` (see bench/README.md). Run: ${m.date}${m.totalSeconds ? `, took ${fixed(m.totalSeconds / 60, 1)} min` : ''}, tree \`${m.commit}\`.`,
  );
  out.push(`Machine: ${m.nproc} CPUs (${m.cpu}), ${fixed(m.memoryGiB, 1)} GiB RAM, Linux ${m.kernel}, Node ${m.node}. Tools: ${m.tools.join('; ')}.`);
  out.push(
    `Load average (1 min) ${fixed(m.loadBefore)} before the run, ${fixed(m.loadAfter ?? Number.NaN)} after: anything else running on the machine skews the figures.`,
    `Each figure is the median of ${m.runs} runs (min-max in brackets); wrk runs last ${m.seconds} s. All on loopback; load generators share the 2 CPUs with the servers.`,
    `cargohold runs as \`node ${startNodeFlags().join(' ')} dist/cli/index.js serve --log-level warn\` (the compiled build with the node flags \`npm start\` uses; no access log) unless marked info.`,
    '',
  );

  out.push(`## 1. Warm blob throughput (${mib(r.blobSize)} blob, GB/s = 10^9 bytes/s, wrk -t1 -c1 / -t2 -c32)`, '');
  out.push(
    table(
      ['server', '1 connection', '32 connections'],
      [
        ['cargohold', spread(t.cargohold.c1), spread(t.cargohold.c32)],
        ['nginx (sendfile, same file)', spread(t.nginx.c1), spread(t.nginx.c32)],
        ['plain node:http file server (same file, one process)', spread(t.node.c1), spread(t.node.c32)],
        ['distribution proxy', spread(t.proxy.c1), spread(t.proxy.c32)],
        ['cargohold / nginx', times(ratio(t.cargohold.c1, t.nginx.c1)), times(ratio(t.cargohold.c32, t.nginx.c32))],
        ['plain node:http / nginx', times(ratio(t.node.c1, t.nginx.c1)), times(ratio(t.node.c32, t.nginx.c32))],
        ['cargohold / plain node:http', times(ratio(t.cargohold.c1, t.node.c1)), times(ratio(t.cargohold.c32, t.node.c32))],
        ['distribution / nginx', times(ratio(t.proxy.c1, t.nginx.c1)), times(ratio(t.proxy.c32, t.nginx.c32))],
        ['cargohold / distribution', times(ratio(t.cargohold.c1, t.proxy.c1)), times(ratio(t.cargohold.c32, t.proxy.c32))],
      ],
    ),
    '',
  );

  const p = r.coldPull;
  out.push('## 2. Cold pull of library/big:latest (skopeo copy to dir:, seconds)', '');
  out.push(
    table(
      ['path', 'seconds'],
      [
        ['straight from the upstream', spread(p.direct)],
        ['through cargohold started for this pull (fresh process and data dir)', spread(p.cargohold)],
        ['through a running cargohold (pulled another image first; this one not cached)', spread(p.cargoholdRunning)],
        ['cargohold started for the pull / direct', times(ratio(p.cargohold, p.direct))],
        ['running cargohold / direct', times(ratio(p.cargoholdRunning, p.direct))],
      ],
    ),
    '',
  );

  out.push(`## 3. 20 concurrent cold clients on the ${mib(r.blobSize)} blob (curl, fresh server per run)`, '');
  const coldRow = (name: string, c: Results['cold']['cargohold']) => [
    name,
    spread(c.t1),
    spread(c.t20),
    times(ratio(c.t20, c.t1)),
    times(median(c.bytes1) / r.blobSize),
    `${times(median(c.bytes20) / r.blobSize)} (${fixed(Math.min(...c.bytes20) / r.blobSize)}-${fixed(Math.max(...c.bytes20) / r.blobSize)})`,
    spread(c.gets20, 0),
  ];
  out.push(
    table(
      [
        'server',
        '1 client, s',
        '20 clients, s',
        '20 / 1',
        'upstream bytes, 1 client',
        'upstream bytes, 20 clients',
        'upstream blob GETs, 20 clients',
      ],
      [coldRow('cargohold', r.cold.cargohold), coldRow('distribution proxy', r.cold.proxy)],
    ),
    '',
    "Upstream bytes are the sizes in the upstream's access log for blob GETs, as a multiple of the blob size.",
    '',
  );

  out.push('## 4. Warm manifests, library/small:latest (32 connections, req/s)', '');
  const mf = r.manifests;
  const row = (name: string, s: ManifestServer) => [name, spread(mf[s].headTag, 0), spread(mf[s].getTag, 0), spread(mf[s].getDigest, 0)];
  const ratioRow = (name: string, s: ManifestServer) => [
    name,
    ...(['headTag', 'getTag', 'getDigest'] as const).map((c) => (mf[s][c] ? times(ratio(mf[s][c], mf.proxy[c])) : 'n/a')),
  ];
  out.push(
    table(
      ['server', 'HEAD by tag (ab -k -c32)', 'GET by tag (wrk)', 'GET by digest (wrk)'],
      [
        row('cargohold, warn, default tag TTL (latest: 60 s)', 'cargohold'),
        row('cargohold, warn, tag TTL 0 (revalidates every request by tag)', 'cargohold-ttl0'),
        row('cargohold, info (access log on), default tag TTL', 'cargohold-info'),
        row('distribution proxy (asks the upstream on every request by tag)', 'proxy'),
        ratioRow('cargohold default TTL / distribution', 'cargohold'),
        ratioRow('cargohold TTL 0 / distribution', 'cargohold-ttl0'),
        ratioRow('cargohold info / distribution', 'cargohold-info'),
      ],
    ),
    '',
  );

  const up = r.manifestUpstream;
  const upRow = (name: string, s: ManifestServer) => [name, ...(['headTag', 'getTag', 'getDigest'] as const).map((c) => spread(up[s][c], 3))];
  out.push(
    "Upstream manifest requests (HEAD or GET, from the upstream's access log) per client request, same runs:",
    '',
    table(
      ['server', 'HEAD by tag', 'GET by tag', 'GET by digest'],
      [
        upRow('cargohold, default tag TTL', 'cargohold'),
        upRow('cargohold, tag TTL 0', 'cargohold-ttl0'),
        upRow('cargohold, info', 'cargohold-info'),
        upRow('distribution proxy', 'proxy'),
      ],
    ),
    '',
    'cargohold serves a tag from its cache for the tag TTL (default rules: `latest` 60 s) with no upstream request; with TTL 0',
    'every request by tag needs a revalidation HEAD, but the requests that arrive while one is in flight share it (hence far',
    'fewer than 1 upstream request per client request at 32 connections). The distribution proxy (default config: log level',
    'info, access log on) sends the upstream one request for every request by tag.',
    '',
  );

  out.push('## 5. Peak RSS (VmHWM after the scenario, MB = 10^6 bytes)', '');
  const rssRows = [
    ['idle, right after start', fixed(r.warmRss.cargoholdIdle, 0), '-', '-'],
    [
      '1. warm throughput (server restarted first)',
      fixed(r.warmRss.cargohold, 0),
      fixed(r.warmRss.proxy, 0),
      `${fixed(r.warmRss.nginx, 0)} (largest worker)`,
    ],
    ['3. 20 cold clients (worst run)', fixed(Math.max(...r.cold.cargohold.rss20), 0), fixed(Math.max(...r.cold.proxy.rss20), 0), '-'],
  ];
  if (r.memory) {
    const mem = r.memory;
    rssRows.push([
      `${mem.clients} clients, cached ${mib(mem.size)} blob (${fixed(mem.cachedWallMs / 1000, 1)} s)`,
      fixed(mem.cachedRss, 0),
      '-',
      '-',
    ]);
    rssRows.push([
      `${mem.clients} clients, cold ${mib(mem.size)} blob (${fixed(mem.coldWallMs / 1000, 1)} s, upstream sent ${times(mem.coldUpstreamBytes / mem.size)})`,
      fixed(mem.coldRss, 0),
      '-',
      '-',
    ]);
  }
  out.push(table(['scenario', 'cargohold', 'distribution proxy', 'nginx'], rssRows), '');

  const c1 = r.coldOne;
  out.push(`## 7. One cold client on the ${mib(r.blobSize)} blob (curl -o /dev/null, nothing cached, seconds by curl's clock)`, '');
  const oneRow = (name: string, path: ColdOnePath) => [
    name,
    spread(c1.total[path], 3),
    spread(c1.ttfb[path], 3),
    times(ratio(c1.total[path], c1.floor)),
    times(ratio(c1.total[path], c1.total.proxy)),
    times(ratio(c1.total[path], c1.total.direct)),
  ];
  out.push(
    table(
      ['path', 'total', 'first byte', '/ sha256 floor', '/ distribution proxy', '/ direct'],
      [
        [
          'sha256 floor: one Node process hashing the blob in memory (faster of 64 KiB / 256 KiB updates)',
          spread(c1.floor, 3),
          '-',
          '1.00x',
          '-',
          '-',
        ],
        oneRow('straight from the upstream', 'direct'),
        oneRow('distribution proxy (fresh storage)', 'proxy'),
        oneRow('plain Node relay: node:http + undici, nothing hashed or stored', 'relayHttp'),
        oneRow('plain Node relay + sha256 of every chunk in the same thread', 'relayHash'),
        oneRow('raw TCP pipe in Node: headers by hand, socket piped to socket', 'relayPipe'),
        oneRow('cargohold started for it (fresh process and data dir)', 'cargohold'),
        oneRow('running cargohold (served the 32 MiB warmup blob cold first; this one not cached)', 'cargoholdRunning'),
      ],
    ),
    '',
    `The floor fed 64 KiB at a time: ${spread(c1.hash64k, 3)} s; 256 KiB at a time: ${spread(c1.hash256k, 3)} s (the file read into memory first, not timed).`,
    "cargohold holds back the last byte until the digest verifies, so it cannot beat the floor; distribution's proxy passes",
    'its own upstream GET to the client as the bytes come, holding nothing back (it stores the blob from a second GET).',
    'The plain Node relays (bench/node-relay.mjs, fresh processes) show what Node costs on this path with no registry logic:',
    'no Node process that relays the bytes through two sockets can come in under the raw pipe.',
    '',
  );

  const rp = r.replicas;
  if (rp.replicas20.length > 0) {
    const mbps = (xs: number[]) => xs.map((x) => x / 1e6);
    out.push(
      `## 8. Scale-out: 20 cold clients over 3 replicas (PostgreSQL + Ceph RADOS gateway) vs one embedded cargohold (${mib(r.blobSize)} blob)`,
      '',
    );
    out.push(
      table(
        ['', 'one cargohold (SQLite, local disk)', 'one replica (PostgreSQL, S3)', '3 replicas (PostgreSQL, S3)'],
        [
          ['20 cold clients, wall seconds', spread(rp.embedded20), spread(rp.single20), spread(rp.replicas20)],
          [
            'upstream blob bytes / blob size',
            times(Math.max(...rp.embeddedBytes) / r.blobSize),
            times(Math.max(...rp.singleBytes) / r.blobSize),
            times(Math.max(...rp.replicasBytes) / r.blobSize),
          ],
          ['upstream blob GETs (worst run)', '', '', String(Math.max(...rp.replicasGets))],
          ['wall time / embedded', '', times(ratio(rp.single20, rp.embedded20)), times(ratio(rp.replicas20, rp.embedded20))],
        ],
      ),
      '',
      table(
        ['warm, from the store', 'MB/s (10^6 bytes/s) or GB/s'],
        [
          ['20 clients over the 3 replicas, aggregate GB/s', spread(rp.warm20)],
          ['1 client through a replica (from S3), MB/s', spread(mbps(rp.warm1), 0)],
          ['1 client straight from the gateway (presigned GET), MB/s', spread(mbps(rp.s3Direct1), 0)],
          ['1 client through the embedded cargohold (local disk), MB/s', spread(mbps(rp.embeddedWarm1), 0)],
          ['replica / gateway direct', times(ratio(rp.warm1, rp.s3Direct1))],
        ],
      ),
      '',
      'The replicas, the gateway, PostgreSQL, the upstream and curl share the 2 CPUs: the wall time shows what coordination costs on one machine, not what three machines would do.',
      '',
    );
  }

  out.push('## Goals', '');
  out.push(
    table(
      ['goal', 'measured', 'result'],
      goals(r).map((g) => [g.goal, g.measured, g.pass ? 'pass' : '**FAIL**']),
    ),
    '',
  );
  if (r.notes.length > 0) out.push('## Notes from the run', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
