import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryMetadataRepo } from '../../src/metadata/memory-repo.js';
import { TrafficRecorder, type ServedResponse } from '../../src/observability/traffic-recorder.js';
import { HOUR_MS, zeroCounts } from '../../src/ports/traffic.js';

const T0 = 1_700_006_400_000;

describe('TrafficRecorder', () => {
  it('counts responses by outcome, manifest GETs as pulls (not HEADs, not blobs), bytes by source; writes nothing until flushed', async () => {
    let time = T0 + 1000;
    const metadata = new MemoryMetadataRepo(() => time);
    const recorder = new TrafficRecorder(metadata, pino({ level: 'silent' }), () => time);
    const served = (over: Partial<ServedResponse>): ServedResponse => ({
      kind: 'manifest',
      method: 'GET',
      outcome: 'hit',
      coalesced: false,
      bytes: 10,
      upstream: 'docker.io',
      repository: 'docker.io/library/node',
      principal: '',
      ...over,
    });
    recorder.record(served({ outcome: 'miss', bytes: 100 }));
    recorder.record(served({ outcome: 'miss', coalesced: true, bytes: 100 }));
    recorder.record(served({ outcome: 'stale' }));
    recorder.record(served({ method: 'HEAD', bytes: 0 }));
    recorder.record(served({ kind: 'blob', bytes: 1000 }));
    recorder.record(served({ kind: 'blob', outcome: 'miss', bytes: 5000 }));
    expect(await metadata.trafficTotals({ since: 0, by: 'total' })).toEqual([{ key: '', ...zeroCounts() }]);
    expect(await recorder.trafficTotals({ since: 0, by: 'hour' })).toEqual([
      {
        key: String(T0),
        ...zeroCounts(),
        hits: 2,
        misses: 2,
        stale: 1,
        coalesced: 1,
        pullHits: 0,
        pullMisses: 1,
        pullStale: 1,
        pullCoalesced: 1,
        bytesFromCache: 10 + 1000,
        bytesFromUpstream: 100 + 100 + 5000,
      },
    ]);
    // The next hour is a row of its own; stop flushes what is left.
    time = T0 + HOUR_MS + 5;
    recorder.record(served({ principal: 'alice' }));
    await recorder.stop();
    expect((await metadata.trafficTotals({ since: 0, by: 'principal' })).map((t) => [t.key, t.pullHits])).toEqual([
      ['', 0],
      ['alice', 1],
    ]);
  });
});
