import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import type { LeaseHolder, MetadataRepo, NewManifest } from '../../src/ports/metadata-repo.js';
import { trafficContract } from './traffic.contract.js';

export interface MadeMetadataRepo {
  repo: MetadataRepo;
  cleanup: () => Promise<void>;
}

/** A start time far from 0, so a clock that was never read (0) or a real one (now) cannot pass for it. */
const T0 = 1_700_000_000_000;

/** A manifest whose bytes are deliberately not canonical JSON: stored and returned as received. */
function manifest(name: string, mediaType = 'application/vnd.oci.image.manifest.v1+json'): NewManifest {
  const content = Buffer.from(`{ "schemaVersion":2,\r\n  "name": "${name}", "note": "é ü 🐳"  }\n`, 'utf8');
  return {
    digest: digestOf(content),
    mediaType,
    content,
    references: [
      { digest: digestOf(Buffer.from(`${name} config`)), kind: 'config' },
      { digest: digestOf(Buffer.from(`${name} layer`)), kind: 'layer' },
    ],
  };
}

/** The manifest as findManifest / findTag return it: the bytes and media type, nothing else. */
function stored(m: NewManifest) {
  return { digest: m.digest, mediaType: m.mediaType, content: m.content };
}

const blobDigest = (name: string) => digestOf(Buffer.from(`blob ${name}`));

function holder(instance: string): LeaseHolder {
  return { instance, endpoint: `/data/admin-${instance}.sock`, description: `cargohold serve ${instance}`, host: `host-${instance}` };
}

/**
 * The MetadataRepo contract: what the core relies on, seen only through the port, so a
 * networked implementation passes it unchanged. `make` gets the clock the repo must use.
 */
export function metadataRepoContract(name: string, make: (now: () => number) => Promise<MadeMetadataRepo>): void {
  describe(`MetadataRepo contract: ${name}`, () => {
    let time: number;
    let repo: MetadataRepo;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      time = T0;
      const made = await make(() => time);
      repo = made.repo;
      cleanup = made.cleanup;
    });

    afterEach(async () => {
      const done = cleanup;
      cleanup = undefined;
      await done?.();
    });

    describe('manifests', () => {
      it('findManifest is undefined until recordManifest, then linked only for the repository that recorded it', async () => {
        const m = manifest('a');
        expect(await repo.findManifest('library/node', m.digest)).toBeUndefined();
        await repo.recordManifest('library/node', m);
        expect(await repo.findManifest('library/node', m.digest)).toEqual({ manifest: stored(m), linked: true });
        expect(await repo.findManifest('library/python', m.digest)).toEqual({ manifest: stored(m), linked: false });
        expect(await repo.findManifest('never/seen', m.digest)).toEqual({ manifest: stored(m), linked: false });
        expect(await repo.findManifest('library/node', manifest('b').digest)).toBeUndefined();
      });

      it('returns the content byte-exactly as a Buffer, unaffected by later changes to the caller buffer', async () => {
        const m = manifest('bytes');
        const original = Buffer.from(m.content);
        await repo.recordManifest('r', m, 'latest');
        m.content.fill(0); // the caller's buffer is reused
        const found = await repo.findManifest('r', m.digest);
        expect(Buffer.isBuffer(found?.manifest.content)).toBe(true);
        expect(found?.manifest.content.equals(original)).toBe(true);
        const tagged = await repo.findTag('r', 'latest');
        expect(Buffer.isBuffer(tagged?.manifest.content)).toBe(true);
        expect(tagged?.manifest.content.equals(original)).toBe(true);
      });

      it('round-trips every byte value, not only valid UTF-8', async () => {
        const content = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
        const m: NewManifest = { digest: digestOf(content), mediaType: 'application/octet-stream', content, references: [] };
        await repo.recordManifest('r', m);
        const found = await repo.findManifest('r', m.digest);
        expect(found?.manifest.content.equals(content)).toBe(true);
        expect(found?.manifest.mediaType).toBe('application/octet-stream');
      });

      it('recording a stored digest again, for another repository, links it there too and keeps the manifest', async () => {
        const m = manifest('shared', 'application/vnd.docker.distribution.manifest.v2+json');
        await repo.recordManifest('one', m);
        await repo.recordManifest('two', m);
        expect(await repo.findManifest('one', m.digest)).toEqual({ manifest: stored(m), linked: true });
        expect(await repo.findManifest('two', m.digest)).toEqual({ manifest: stored(m), linked: true });
        expect(await repo.findManifest('three', m.digest)).toEqual({ manifest: stored(m), linked: false });
      });

      it('linkManifest links a stored manifest to another repository, and only that one', async () => {
        const m = manifest('linked');
        await repo.recordManifest('origin', m);
        await repo.linkManifest('copy', m.digest);
        expect(await repo.findManifest('copy', m.digest)).toEqual({ manifest: stored(m), linked: true });
        expect(await repo.findManifest('elsewhere', m.digest)).toEqual({ manifest: stored(m), linked: false });
        await repo.linkManifest('copy', m.digest); // linking twice is fine
        expect((await repo.findManifest('copy', m.digest))?.linked).toBe(true);
      });
    });

    describe('referrers', () => {
      /** A manifest whose subject is `subject` (and which, like any image, points at a config and a layer). */
      const referrer = (name: string, subject: string): NewManifest => {
        const m = manifest(name);
        return { ...m, references: [...m.references, { digest: subject, kind: 'subject' }] };
      };

      it('findReferrers lists the manifests linked to the repository whose subject is the digest, by digest', async () => {
        const subject = manifest('subject');
        await repo.recordManifest('r', subject, 'latest');
        const [one, two, other] = [referrer('sig', subject.digest), referrer('sbom', subject.digest), referrer('else', digestOf(Buffer.from('x')))];
        for (const m of [one, two, other]) await repo.recordManifest('r', m);
        const byDigest = [one, two].sort((a, b) => (a.digest < b.digest ? -1 : 1)).map(stored);
        expect(await repo.findReferrers('r', subject.digest)).toEqual(byDigest);
        expect(await repo.findReferrers('r', other.references.at(-1)?.digest ?? '')).toEqual([stored(other)]);
        expect(await repo.findReferrers('r', manifest('nothing').digest)).toEqual([]);
      });

      it('findReferrers sees only manifests linked to that repository, and not what merely points at the digest as a layer or config', async () => {
        const subject = manifest('subject');
        const sig = referrer('sig', subject.digest);
        await repo.recordManifest('one', sig);
        expect(await repo.findReferrers('two', subject.digest)).toEqual([]);
        expect(await repo.findReferrers('never/seen', subject.digest)).toEqual([]);
        await repo.linkManifest('two', sig.digest);
        expect(await repo.findReferrers('two', subject.digest)).toEqual([stored(sig)]);
        const layerOf = manifest('layer-of');
        await repo.recordManifest('one', { ...layerOf, references: [{ digest: subject.digest, kind: 'layer' }] });
        expect(await repo.findReferrers('one', subject.digest)).toEqual([stored(sig)]);
      });
    });

    describe('tags', () => {
      it('recordManifest with a tag makes findTag return the manifest with checkedAt = the clock time', async () => {
        const m = manifest('tagged');
        expect(await repo.findTag('r', 'latest')).toBeUndefined();
        await repo.recordManifest('r', m, 'latest');
        expect(await repo.findTag('r', 'latest')).toEqual({ manifest: stored(m), checkedAt: T0 });
        expect(await repo.findTag('r', 'other')).toBeUndefined();
        expect(await repo.findTag('elsewhere', 'latest')).toBeUndefined();
      });

      it('recordManifest without a tag points no tag at it', async () => {
        await repo.recordManifest('r', manifest('untagged'));
        expect(await repo.findTag('r', 'latest')).toBeUndefined();
        expect(await repo.listTags('r', '', 100)).toEqual([]);
      });

      it('a tag recorded again moves to the new manifest, with the new time', async () => {
        const first = manifest('first');
        const second = manifest('second');
        await repo.recordManifest('r', first, 'latest');
        time = T0 + 5_000;
        await repo.recordManifest('r', second, 'latest');
        expect(await repo.findTag('r', 'latest')).toEqual({ manifest: stored(second), checkedAt: T0 + 5_000 });
        expect(await repo.findManifest('r', first.digest)).toEqual({ manifest: stored(first), linked: true });
      });

      it('the same tag name in two repositories is two tags', async () => {
        const a = manifest('a');
        const b = manifest('b');
        await repo.recordManifest('one', a, 'latest');
        time = T0 + 1;
        await repo.recordManifest('two', b, 'latest');
        expect(await repo.findTag('one', 'latest')).toEqual({ manifest: stored(a), checkedAt: T0 });
        expect(await repo.findTag('two', 'latest')).toEqual({ manifest: stored(b), checkedAt: T0 + 1 });
      });

      it('markTagChecked sets checkedAt to the clock time and keeps the manifest', async () => {
        const m = manifest('checked');
        await repo.recordManifest('r', m, 'latest');
        await repo.recordManifest('r', m, 'stable');
        time = T0 + 60_000;
        await repo.markTagChecked('r', 'latest');
        expect(await repo.findTag('r', 'latest')).toEqual({ manifest: stored(m), checkedAt: T0 + 60_000 });
        expect(await repo.findTag('r', 'stable')).toEqual({ manifest: stored(m), checkedAt: T0 }); // only that tag
        time = T0 + 120_000;
        await repo.markTagChecked('r', 'latest');
        expect((await repo.findTag('r', 'latest'))?.checkedAt).toBe(T0 + 120_000);
      });

      it('markTagChecked of a tag not cached creates no tag', async () => {
        await repo.recordManifest('r', manifest('x'));
        await repo.markTagChecked('r', 'missing');
        expect(await repo.findTag('r', 'missing')).toBeUndefined();
        expect(await repo.listTags('r', '', 100)).toEqual([]);
      });

      it('forgetTag removes the tag only, not the manifest or the other tags', async () => {
        const m = manifest('forget');
        await repo.recordManifest('r', m, 'latest');
        await repo.recordManifest('r', m, 'v1');
        await repo.forgetTag('r', 'latest');
        expect(await repo.findTag('r', 'latest')).toBeUndefined();
        expect(await repo.findTag('r', 'v1')).toEqual({ manifest: stored(m), checkedAt: T0 });
        expect(await repo.findManifest('r', m.digest)).toEqual({ manifest: stored(m), linked: true });
        expect(await repo.listTags('r', '', 100)).toEqual(['v1']);
        await repo.forgetTag('r', 'latest'); // already gone: fine
        await repo.forgetTag('never/seen', 'latest');
        expect(await repo.listTags('r', '', 100)).toEqual(['v1']);
      });

      it('listTags is undefined for a repository never seen, [] for a known one without tags', async () => {
        expect(await repo.listTags('never/seen', '', 100)).toBeUndefined();
        await repo.recordManifest('known', manifest('k'));
        expect(await repo.listTags('known', '', 100)).toEqual([]);
        expect(await repo.listTags('never/seen', '', 100)).toBeUndefined();
      });

      it('listTags lists in order, pages with after and limit, and lists only that repository', async () => {
        const m = manifest('paging');
        for (const tag of ['v2', 'latest', 'v10', '1.0', 'v1']) await repo.recordManifest('r', m, tag);
        await repo.recordManifest('other', m, 'zzz');
        expect(await repo.listTags('r', '', 100)).toEqual(['1.0', 'latest', 'v1', 'v10', 'v2']);
        expect(await repo.listTags('r', '', 2)).toEqual(['1.0', 'latest']);
        expect(await repo.listTags('r', 'latest', 2)).toEqual(['v1', 'v10']);
        expect(await repo.listTags('r', 'v10', 2)).toEqual(['v2']);
        expect(await repo.listTags('r', 'v2', 2)).toEqual([]);
        expect(await repo.listTags('r', 'm', 100)).toEqual(['v1', 'v10', 'v2']); // after need not be a tag
      });

      it('listTags orders by code point (uppercase before underscore before lowercase), so paging by after is consistent', async () => {
        const m = manifest('order');
        for (const tag of ['b', 'a_1', 'B', 'a-1', 'a.1', 'A', '_x', '9']) await repo.recordManifest('r', m, tag);
        const all = ['9', 'A', 'B', '_x', 'a-1', 'a.1', 'a_1', 'b'];
        expect(await repo.listTags('r', '', 100)).toEqual(all);
        expect(await repo.listTags('r', 'B', 3)).toEqual(['_x', 'a-1', 'a.1']);
      });
    });

    describe('repositories', () => {
      it('listRepositories lists every repository seen, in order, paged with after and limit', async () => {
        expect(await repo.listRepositories('', 100)).toEqual([]);
        for (const r of ['library/node', 'bitnami/redis', 'library/alpine', 'grafana/grafana']) await repo.recordManifest(r, manifest(r));
        expect(await repo.listRepositories('', 100)).toEqual(['bitnami/redis', 'grafana/grafana', 'library/alpine', 'library/node']);
        expect(await repo.listRepositories('', 1)).toEqual(['bitnami/redis']);
        expect(await repo.listRepositories('bitnami/redis', 2)).toEqual(['grafana/grafana', 'library/alpine']);
        expect(await repo.listRepositories('library/alpine', 2)).toEqual(['library/node']);
        expect(await repo.listRepositories('library/node', 2)).toEqual([]);
        expect(await repo.listRepositories('h', 100)).toEqual(['library/alpine', 'library/node']);
      });

      it('a repository recorded twice is listed once', async () => {
        await repo.recordManifest('r', manifest('one'), 'a');
        await repo.recordManifest('r', manifest('two'), 'b');
        expect(await repo.listRepositories('', 100)).toEqual(['r']);
      });
    });

    describe('blobs', () => {
      it('findBlob is undefined until recordBlob, then linked only for the repositories given', async () => {
        const d = blobDigest('a');
        expect(await repo.findBlob('r', d)).toBeUndefined();
        await repo.recordBlob(d, 1234, ['one', 'two']);
        expect(await repo.findBlob('one', d)).toEqual({ size: 1234, linked: true });
        expect(await repo.findBlob('two', d)).toEqual({ size: 1234, linked: true });
        expect(await repo.findBlob('three', d)).toEqual({ size: 1234, linked: false });
        expect(await repo.findBlob('one', blobDigest('b'))).toBeUndefined();
      });

      it('recordBlob accepts any iterable of repositories, and none', async () => {
        const d = blobDigest('iterable');
        await repo.recordBlob(d, 1, new Set(['s']));
        expect(await repo.findBlob('s', d)).toEqual({ size: 1, linked: true });
        const unlinked = blobDigest('unlinked');
        await repo.recordBlob(unlinked, 2, []);
        expect(await repo.findBlob('s', unlinked)).toEqual({ size: 2, linked: false });
      });

      it('recordBlob twice is fine: the size is the latest, the links add up', async () => {
        const d = blobDigest('twice');
        await repo.recordBlob(d, 10, ['one']);
        await repo.recordBlob(d, 10, ['one']);
        expect(await repo.findBlob('one', d)).toEqual({ size: 10, linked: true });
        await repo.recordBlob(d, 12, ['two']);
        expect(await repo.findBlob('one', d)).toEqual({ size: 12, linked: true });
        expect(await repo.findBlob('two', d)).toEqual({ size: 12, linked: true });
        expect(await repo.findBlob('three', d)).toEqual({ size: 12, linked: false });
      });

      it('linkBlob links a recorded blob to one more repository', async () => {
        const d = blobDigest('link');
        await repo.recordBlob(d, 99, []);
        await repo.linkBlob('r', d);
        expect(await repo.findBlob('r', d)).toEqual({ size: 99, linked: true });
        expect(await repo.findBlob('other', d)).toEqual({ size: 99, linked: false });
        await repo.linkBlob('r', d); // twice: fine
        expect(await repo.findBlob('r', d)).toEqual({ size: 99, linked: true });
      });

      it('linking a blob or manifest that is not recorded (forgotten meanwhile) does nothing and does not fail', async () => {
        const d = blobDigest('never');
        await repo.linkBlob('r', d);
        await repo.linkManifest('r', manifest('never').digest);
        expect(await repo.findBlob('r', d)).toBeUndefined();
        expect(await repo.findManifest('r', manifest('never').digest)).toBeUndefined();
        await repo.recordBlob(d, 5, []);
        expect(await repo.findBlob('r', d)).toEqual({ size: 5, linked: false }); // the early link was not kept
      });

      it('markTagChecked for a repository never seen creates no repository', async () => {
        await repo.markTagChecked('ghost/repo', 'latest');
        expect(await repo.listRepositories('', 10)).toEqual([]);
        expect(await repo.listTags('ghost/repo', '', 10)).toBeUndefined();
      });

      it('forgetBlob forgets the record and its links: recorded again without repositories, it is linked nowhere', async () => {
        const d = blobDigest('forget');
        const kept = blobDigest('kept');
        await repo.recordBlob(d, 5, ['one']);
        await repo.linkBlob('two', d);
        await repo.recordBlob(kept, 6, ['one']);
        await repo.forgetBlob(d);
        expect(await repo.findBlob('one', d)).toBeUndefined();
        expect(await repo.findBlob('two', d)).toBeUndefined();
        expect(await repo.findBlob('one', kept)).toEqual({ size: 6, linked: true });
        await repo.recordBlob(d, 7, []);
        expect(await repo.findBlob('one', d)).toEqual({ size: 7, linked: false });
        expect(await repo.findBlob('two', d)).toEqual({ size: 7, linked: false });
        await repo.forgetBlob(blobDigest('never recorded')); // fine
      });

      it('storeUsage counts each recorded blob once and sums the sizes, whatever its links; manifests are not blobs', async () => {
        expect(await repo.storeUsage()).toEqual({ blobs: 0, bytes: 0 });
        const [a, b, big] = [blobDigest('usage a'), blobDigest('usage b'), blobDigest('usage big')];
        await repo.recordBlob(a, 1000, ['one', 'two']);
        await repo.recordBlob(b, 24, []);
        await repo.linkBlob('three', a);
        await repo.recordBlob(a, 1000, ['four']); // recorded again: still one blob
        await repo.recordManifest('one', manifest('usage'), 'latest');
        expect(await repo.storeUsage()).toEqual({ blobs: 2, bytes: 1024 });
        await repo.recordBlob(big, 5 * 2 ** 30, ['one']); // past 32 bits
        expect(await repo.storeUsage()).toEqual({ blobs: 3, bytes: 5 * 2 ** 30 + 1024 });
        await repo.forgetBlob(a);
        expect(await repo.storeUsage()).toEqual({ blobs: 2, bytes: 5 * 2 ** 30 + 24 });
      });
    });

    describe('access times', () => {
      it('touch then flushAccessTimes resolves, is idempotent, and changes nothing the port shows', async () => {
        const m = manifest('touched');
        const d = blobDigest('touched');
        await repo.recordManifest('r', m, 'latest');
        await repo.recordBlob(d, 3, ['r']);
        repo.touchBlob(d);
        repo.touchManifest(m.digest);
        repo.touchBlob(blobDigest('not stored'));
        repo.touchManifest(manifest('not stored').digest);
        time = T0 + 1_000;
        repo.touchBlob(d);
        await repo.flushAccessTimes();
        await repo.flushAccessTimes();
        expect(await repo.findBlob('r', d)).toEqual({ size: 3, linked: true });
        expect(await repo.findManifest('r', m.digest)).toEqual({ manifest: stored(m), linked: true });
        expect(await repo.findTag('r', 'latest')).toEqual({ manifest: stored(m), checkedAt: T0 });
      });

      it('flushAccessTimes with nothing touched resolves', async () => {
        await repo.flushAccessTimes();
      });

      it('close flushes pending touches and resolves', async () => {
        const d = blobDigest('closing');
        await repo.recordBlob(d, 1, []);
        repo.touchBlob(d);
        await repo.close();
      });
    });

    describe('maintenance listings', () => {
      /** An image manifest whose config and layers are the given blob digests. */
      const image = (name: string, blobs: string[]): NewManifest => {
        const content = Buffer.from(`{"schemaVersion":2,"image":"${name}"}`);
        return {
          digest: digestOf(content),
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          content,
          references: blobs.map((digest, i) => ({ digest, kind: i === 0 ? 'config' : 'layer' })),
        };
      };
      const index = (name: string, children: NewManifest[]): NewManifest => {
        const content = Buffer.from(`{"schemaVersion":2,"index":"${name}"}`);
        return {
          digest: digestOf(content),
          mediaType: 'application/vnd.oci.image.index.v1+json',
          content,
          references: children.map((m) => ({ digest: m.digest, kind: 'manifest' as const })),
        };
      };
      const [b1, b2, b3, b4] = ['one', 'two', 'three', 'four'].map(blobDigest) as [string, string, string, string];
      const sorted = (...digests: string[]) => [...digests].sort();
      /** Records each blob at its own time (T0 + 10 s * i), so last-access order is the given order. */
      const recordAtTimes = async (...digests: string[]) => {
        for (const [i, digest] of digests.entries()) {
          time = T0 + 10_000 * (i + 1);
          await repo.recordBlob(digest, 100 * (i + 1), ['library/a']);
        }
      };
      const digests = (entries: Array<{ digest: string }>) => entries.map((e) => e.digest);

      it('storeUsage counts recorded blobs and their bytes; forgetting one takes it off', async () => {
        expect(await repo.storeUsage()).toEqual({ blobs: 0, bytes: 0 });
        await recordAtTimes(b1, b2, b3);
        expect(await repo.storeUsage()).toEqual({ blobs: 3, bytes: 600 });
        await repo.recordBlob(b1, 100, ['library/b']); // recorded again: counted once
        await repo.forgetBlob(b2);
        expect(await repo.storeUsage()).toEqual({ blobs: 2, bytes: 400 });
      });

      it('listBlobs pages by digest, with sizes and times', async () => {
        await recordAtTimes(b1, b2, b3);
        const all = await repo.listBlobs('', 10);
        expect(digests(all)).toEqual(sorted(b1, b2, b3));
        expect(all.find((e) => e.digest === b2)).toEqual({ digest: b2, size: 200, createdAt: T0 + 20_000, lastAccessAt: T0 + 20_000 });
        const first = await repo.listBlobs('', 2);
        const rest = await repo.listBlobs(first[1]!.digest, 2);
        expect([...digests(first), ...digests(rest)]).toEqual(sorted(b1, b2, b3));
        expect(await repo.listBlobs('', 0)).toEqual([]);
      });

      it('evictionCandidates: least recently accessed first, access times as flushed, paged by cursor', async () => {
        await recordAtTimes(b1, b2, b3);
        time = T0 + 100_000;
        repo.touchBlob(b1);
        // Not flushed: not seen yet.
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: time, limit: 10 }))).toEqual([b1, b2, b3]);
        await repo.flushAccessTimes();
        const all = await repo.evictionCandidates({ protectAccessedSince: time, limit: 10 });
        expect(digests(all)).toEqual([b2, b3, b1]);
        expect(all[2]).toEqual({ digest: b1, size: 100, createdAt: T0 + 10_000, lastAccessAt: T0 + 100_000 });
        const page1 = await repo.evictionCandidates({ protectAccessedSince: time, limit: 1 });
        expect(digests(page1)).toEqual([b2]);
        const page2 = await repo.evictionCandidates({ protectAccessedSince: time, after: page1[0], limit: 5 });
        expect(digests(page2)).toEqual([b3, b1]);
      });

      it('evictionCandidates with equal access times orders by digest, and the cursor goes on from there', async () => {
        time = T0;
        for (const d of [b1, b2, b3]) await repo.recordBlob(d, 1, []);
        const all = await repo.evictionCandidates({ protectAccessedSince: T0 + 1, limit: 10 });
        expect(digests(all)).toEqual(sorted(b1, b2, b3));
        const next = await repo.evictionCandidates({ protectAccessedSince: T0 + 1, after: all[0], limit: 10 });
        expect(digests(next)).toEqual(sorted(b1, b2, b3).slice(1));
      });

      it('evictionCandidates keeps the blobs of manifests accessed since the cutoff, through an index', async () => {
        await recordAtTimes(b1, b2, b3, b4);
        const amd64 = image('amd64', [b1, b2]);
        const arm64 = image('arm64', [b3]);
        const multi = index('multi', [amd64, arm64]);
        time = T0 + 200_000;
        await repo.recordManifest('library/a', amd64);
        await repo.recordManifest('library/a', arm64);
        await repo.recordManifest('library/a', multi, 'latest');
        // All three manifests were stored at T0 + 200 s: with the cutoff there, every image blob is kept.
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: T0 + 200_000, limit: 10 }))).toEqual([b4]);
        // A cutoff after that: nothing is recent, everything is a candidate.
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: T0 + 200_001, limit: 10 }))).toEqual([b1, b2, b3, b4]);
        // Only the index is accessed later: its children's blobs are kept with it.
        time = T0 + 300_000;
        repo.touchManifest(multi.digest);
        await repo.flushAccessTimes();
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: T0 + 300_000, limit: 10 }))).toEqual([b4]);
        // Only one image accessed: the other image's blobs are candidates.
        time = T0 + 400_000;
        repo.touchManifest(arm64.digest);
        await repo.flushAccessTimes();
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: T0 + 400_000, limit: 10 }))).toEqual([b1, b2, b4]);
      });

      it('evictionCandidates keeps pinned images, by tag (through the index) and by digest', async () => {
        await recordAtTimes(b1, b2, b3, b4);
        const amd64 = image('amd64', [b1]);
        const multi = index('multi', [amd64]);
        const other = image('other', [b2, b3]);
        await repo.recordManifest('library/a', amd64);
        await repo.recordManifest('library/a', multi, 'stable');
        await repo.recordManifest('library/b', other);
        const later = time + 1;
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: later, limit: 10 }))).toEqual([b1, b2, b3, b4]);
        await repo.pin('library/a', 'stable');
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: later, limit: 10 }))).toEqual([b2, b3, b4]);
        await repo.pin('library/b', other.digest);
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: later, limit: 10 }))).toEqual([b4]);
        // A pin of a tag in another repository protects nothing here.
        await repo.unpin('library/a', 'stable');
        await repo.pin('library/b', 'stable');
        expect(digests(await repo.evictionCandidates({ protectAccessedSince: later, limit: 10 }))).toEqual([b1, b4]);
      });

      it('unreferencedBlobs: recorded before the cutoff and referenced by no stored manifest, by digest', async () => {
        await recordAtTimes(b1, b2, b3, b4);
        await repo.recordManifest('library/a', image('img', [b1, b2]));
        const subjectOnly: NewManifest = { ...image('sig', []), references: [{ digest: b3, kind: 'subject' }] };
        await repo.recordManifest('library/a', subjectOnly);
        // b4 was recorded at T0 + 40 s: not before that cutoff.
        expect(digests(await repo.unreferencedBlobs({ createdBefore: T0 + 40_000, after: '', limit: 10 }))).toEqual([b3]);
        expect(digests(await repo.unreferencedBlobs({ createdBefore: T0 + 40_001, after: '', limit: 10 }))).toEqual(sorted(b3, b4));
        const [first] = sorted(b3, b4);
        expect(digests(await repo.unreferencedBlobs({ createdBefore: T0 + 40_001, after: first!, limit: 10 }))).toEqual(sorted(b3, b4).slice(1));
        expect(await repo.unreferencedBlobs({ createdBefore: T0 + 40_001, after: '', limit: 0 })).toEqual([]);
      });
      it('inventory counts repositories, tags, manifests, blobs and bytes', async () => {
        expect(await repo.inventory()).toEqual({ repositories: 0, tags: 0, manifests: 0, blobs: 0, bytes: 0 });
        await recordAtTimes(b1, b2);
        const img = image('img', [b1, b2]);
        await repo.recordManifest('library/a', img, '1');
        await repo.recordManifest('library/a', img, '2');
        await repo.recordManifest('library/b', image('other', [b3]), 'x');
        expect(await repo.inventory()).toEqual({ repositories: 2, tags: 3, manifests: 2, blobs: 2, bytes: 300 });
      });

      it('listImages: tagged images by repository and tag, with the bytes of their stored blobs (all platforms of an index)', async () => {
        await recordAtTimes(b1, b2, b3);
        const amd64 = image('amd64', [b1, b2]);
        const arm64 = image('arm64', [b1, b3, b4]); // b4 not stored: not counted; b1 shared with amd64
        const multi = index('multi', [amd64, arm64]);
        time = T0 + 500_000;
        await repo.recordManifest('library/a', amd64, 'amd64');
        await repo.recordManifest('library/a', arm64);
        await repo.recordManifest('library/a', multi, 'latest');
        await repo.recordManifest('library/b', image('empty', [b4]), 'none');
        time = T0 + 600_000;
        repo.touchManifest(multi.digest);
        await repo.flushAccessTimes();
        const all = await repo.listImages();
        expect(all).toEqual([
          { repository: 'library/a', tag: 'amd64', digest: amd64.digest, mediaType: amd64.mediaType, storedBytes: 300, lastAccessAt: T0 + 500_000 },
          { repository: 'library/a', tag: 'latest', digest: multi.digest, mediaType: multi.mediaType, storedBytes: 600, lastAccessAt: T0 + 600_000 },
          {
            repository: 'library/b',
            tag: 'none',
            digest: image('empty', [b4]).digest,
            mediaType: amd64.mediaType,
            storedBytes: 0,
            lastAccessAt: T0 + 500_000,
          },
        ]);
        expect((await repo.listImages('library/b')).map((e) => e.tag)).toEqual(['none']);
        expect(await repo.listImages('library/nothing')).toEqual([]);
      });
    });

    describe('pins', () => {
      it('pin is true when new, false when pinned already (keeping the first pinnedAt)', async () => {
        expect(await repo.pin('library/node', '22')).toBe(true);
        time = T0 + 10;
        expect(await repo.pin('library/node', '22')).toBe(false);
        expect(await repo.listPins()).toEqual([{ repository: 'library/node', reference: '22', pinnedAt: T0 }]);
      });

      it('unpin is true when a pin was removed, then false', async () => {
        await repo.pin('library/node', '22');
        await repo.pin('library/node', '20');
        expect(await repo.unpin('library/node', '22')).toBe(true);
        expect(await repo.unpin('library/node', '22')).toBe(false);
        expect(await repo.unpin('never/pinned', 'x')).toBe(false);
        expect(await repo.listPins()).toEqual([{ repository: 'library/node', reference: '20', pinnedAt: T0 }]);
      });

      it('listPins is ordered by repository then reference, with pinnedAt from the clock', async () => {
        expect(await repo.listPins()).toEqual([]);
        const pins: Array<[string, string]> = [
          ['library/node', 'latest'],
          ['library/alpine', '3.20'],
          ['library/node', '20'],
          ['bitnami/redis', 'sha256:' + 'a'.repeat(64)],
        ];
        for (const [i, [repository, reference]] of pins.entries()) {
          time = T0 + i * 1000;
          await repo.pin(repository, reference);
        }
        expect(await repo.listPins()).toEqual([
          { repository: 'bitnami/redis', reference: 'sha256:' + 'a'.repeat(64), pinnedAt: T0 + 3000 },
          { repository: 'library/alpine', reference: '3.20', pinnedAt: T0 + 1000 },
          { repository: 'library/node', reference: '20', pinnedAt: T0 + 2000 },
          { repository: 'library/node', reference: 'latest', pinnedAt: T0 },
        ]);
      });

      it('pin and unpin again: the new pin has the new time', async () => {
        await repo.pin('r', 'x');
        await repo.unpin('r', 'x');
        time = T0 + 42;
        expect(await repo.pin('r', 'x')).toBe(true);
        expect(await repo.listPins()).toEqual([{ repository: 'r', reference: 'x', pinnedAt: T0 + 42 }]);
      });
    });

    describe('leases', () => {
      const TTL = 10_000;
      const a = holder('aaaa');
      const b = holder('bbbb');
      const c = holder('cccc');

      it('acquireLease of a free lease makes it ours, from now for ttlMs', async () => {
        expect(await repo.currentLease('filler')).toBeUndefined();
        const lease = await repo.acquireLease('filler', a, TTL);
        expect(lease).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + TTL });
        expect(await repo.currentLease('filler')).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + TTL });
      });

      it('another instance gets the holder lease back while it is unexpired, and takes nothing', async () => {
        await repo.acquireLease('filler', a, TTL);
        time = T0 + TTL - 1;
        expect(await repo.acquireLease('filler', b, TTL)).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + TTL });
        expect(await repo.currentLease('filler')).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + TTL });
      });

      it('acquireLease by the holder extends it, keeping when it was acquired', async () => {
        await repo.acquireLease('filler', a, TTL);
        time = T0 + 3_000;
        expect(await repo.acquireLease('filler', a, TTL)).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + 3_000 + TTL });
      });

      it('after the TTL the lease is not in force, and another instance can take it', async () => {
        await repo.acquireLease('filler', a, TTL);
        time = T0 + TTL;
        expect(await repo.currentLease('filler')).toBeUndefined();
        expect(await repo.acquireLease('filler', b, TTL)).toEqual({ ...b, acquiredAt: T0 + TTL, expiresAt: T0 + 2 * TTL });
        expect(await repo.currentLease('filler')).toEqual({ ...b, acquiredAt: T0 + TTL, expiresAt: T0 + 2 * TTL });
      });

      it('renewLease is true for the holder and extends the lease from now', async () => {
        await repo.acquireLease('filler', a, TTL);
        time = T0 + 4_000;
        expect(await repo.renewLease('filler', a.instance, TTL)).toBe(true);
        expect(await repo.currentLease('filler')).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + 4_000 + TTL });
        time = T0 + TTL + 1; // past the first expiry, not the renewed one
        expect(await repo.currentLease('filler')).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + 4_000 + TTL });
        expect(await repo.acquireLease('filler', b, TTL)).toMatchObject({ instance: a.instance });
      });

      it('renewLease is false for another instance, and for a lease never taken', async () => {
        expect(await repo.renewLease('filler', a.instance, TTL)).toBe(false);
        expect(await repo.currentLease('filler')).toBeUndefined();
        await repo.acquireLease('filler', a, TTL);
        expect(await repo.renewLease('filler', b.instance, TTL)).toBe(false);
        expect(await repo.currentLease('filler')).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + TTL });
      });

      it('renewLease is false once the lease expired and another instance took it', async () => {
        await repo.acquireLease('filler', a, TTL);
        time = T0 + TTL + 500;
        await repo.acquireLease('filler', b, TTL);
        expect(await repo.renewLease('filler', a.instance, TTL)).toBe(false);
        expect(await repo.currentLease('filler')).toEqual({ ...b, acquiredAt: T0 + TTL + 500, expiresAt: T0 + 2 * TTL + 500 });
        expect(await repo.renewLease('filler', b.instance, TTL)).toBe(true);
      });

      it('releaseLease by the holder frees it; by another instance it does nothing', async () => {
        await repo.acquireLease('filler', a, TTL);
        await repo.releaseLease('filler', b.instance);
        expect(await repo.currentLease('filler')).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + TTL });
        await repo.releaseLease('filler', a.instance);
        expect(await repo.currentLease('filler')).toBeUndefined();
        expect(await repo.renewLease('filler', a.instance, TTL)).toBe(false);
        time = T0 + 1;
        expect(await repo.acquireLease('filler', b, TTL)).toEqual({ ...b, acquiredAt: T0 + 1, expiresAt: T0 + 1 + TTL });
        await repo.releaseLease('never', a.instance); // a lease never taken: fine
      });

      it('takeOverLease from the holder works before expiry', async () => {
        await repo.acquireLease('filler', a, TTL);
        time = T0 + 2_000;
        expect(await repo.takeOverLease('filler', a.instance, b, TTL)).toEqual({ ...b, acquiredAt: T0 + 2_000, expiresAt: T0 + 2_000 + TTL });
        expect(await repo.currentLease('filler')).toEqual({ ...b, acquiredAt: T0 + 2_000, expiresAt: T0 + 2_000 + TTL });
        expect(await repo.renewLease('filler', a.instance, TTL)).toBe(false);
        expect(await repo.renewLease('filler', b.instance, TTL)).toBe(true);
      });

      it('takeOverLease from an instance that is not the holder does nothing, and returns the lease in force', async () => {
        await repo.acquireLease('filler', a, TTL);
        time = T0 + 2_000;
        expect(await repo.takeOverLease('filler', c.instance, b, TTL)).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + TTL });
        expect(await repo.currentLease('filler')).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + TTL });
        expect(await repo.renewLease('filler', a.instance, TTL)).toBe(true);
      });

      it('renewLease past the expiry is still true while no other instance took the lease', async () => {
        await repo.acquireLease('filler', a, TTL);
        time = T0 + TTL + 5;
        expect(await repo.currentLease('filler')).toBeUndefined();
        expect(await repo.renewLease('filler', a.instance, TTL)).toBe(true);
        expect(await repo.currentLease('filler')).toEqual({ ...a, acquiredAt: T0, expiresAt: T0 + 2 * TTL + 5 });
      });

      it('takeOverLease of a lease released meanwhile, or expired, takes it', async () => {
        await repo.acquireLease('filler', a, TTL);
        await repo.releaseLease('filler', a.instance);
        time = T0 + 1_000;
        expect(await repo.takeOverLease('filler', a.instance, b, TTL)).toEqual({ ...b, acquiredAt: T0 + 1_000, expiresAt: T0 + 1_000 + TTL });
        time = T0 + 1_000 + TTL;
        expect(await repo.takeOverLease('filler', a.instance, c, TTL)).toEqual({ ...c, acquiredAt: time, expiresAt: time + TTL });
      });

      it('leases of different names are independent', async () => {
        await repo.acquireLease('filler', a, TTL);
        expect(await repo.acquireLease('other', b, 2 * TTL)).toEqual({ ...b, acquiredAt: T0, expiresAt: T0 + 2 * TTL });
        await repo.releaseLease('filler', a.instance);
        expect(await repo.currentLease('filler')).toBeUndefined();
        expect(await repo.currentLease('other')).toEqual({ ...b, acquiredAt: T0, expiresAt: T0 + 2 * TTL });
      });
    });
  });
  trafficContract(name, make);
}
