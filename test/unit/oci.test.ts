import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../src/errors/registry-error.js';
import { digestOf, parseDigest } from '../../src/oci/digest.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { parseRange, parseRangeSpec } from '../../src/oci/range.js';
import { parseReferrersIndex, referrerDescriptor, referrersTag } from '../../src/oci/referrers.js';
import { normalizeDockerHubName, parseManifestReference, parseReference, validateName } from '../../src/oci/reference.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof RegistryError ? err.code : 'not a RegistryError';
  }
  return undefined;
}

describe('digests', () => {
  it('accepts sha256 and sha512 in canonical form', () => {
    expect(parseDigest(`sha256:${'a'.repeat(64)}`)).toMatchObject({ algorithm: 'sha256', hex: 'a'.repeat(64) });
    expect(parseDigest(`sha512:${'0'.repeat(128)}`).algorithm).toBe('sha512');
  });
  it.each([
    ['md5:' + 'a'.repeat(32)],
    ['sha256:' + 'a'.repeat(63)],
    ['sha256:' + 'A'.repeat(64)],
    ['sha256:' + 'g'.repeat(64)],
    ['sha256:../../etc/passwd'],
    ['sha256'],
    [''],
    [':' + 'a'.repeat(64)],
  ])('refuses %s with DIGEST_INVALID', (input) => {
    expect(codeOf(() => parseDigest(input))).toBe('DIGEST_INVALID');
  });
  it('computes digests of bytes', () => {
    expect(digestOf(Buffer.from(''))).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('names and references', () => {
  it.each(['node', 'library/node', 'myorg/team/app', 'a.b_c__d-e---f/g', 'x'.repeat(255)])('accepts %s', (name) => {
    expect(codeOf(() => validateName(name))).toBeUndefined();
  });
  it.each(['Node', '', 'a//b', '/a', 'a/', '..', 'a/../b', '.a', 'a-', 'a___b', 'a%2fb', 'x'.repeat(256), 'a b'])('refuses %j', (name) => {
    expect(codeOf(() => validateName(name))).toBe('NAME_INVALID');
  });
  it('adds library/ to single-segment Docker Hub names only', () => {
    expect(normalizeDockerHubName('node')).toBe('library/node');
    expect(normalizeDockerHubName('library/node')).toBe('library/node');
    expect(normalizeDockerHubName('myorg/app')).toBe('myorg/app');
  });
  it('parses tags and digests, refusing invalid tags', () => {
    expect(parseReference('17-alpine')).toEqual({ kind: 'tag', tag: '17-alpine' });
    expect(parseReference(`sha256:${'b'.repeat(64)}`).kind).toBe('digest');
    expect(codeOf(() => parseReference('.x'))).toBe('MANIFEST_INVALID');
    expect(codeOf(() => parseReference('t'.repeat(129)))).toBe('MANIFEST_INVALID');
    expect(codeOf(() => parseReference('sha256:nothex'))).toBe('DIGEST_INVALID');
  });
  it('a manifest request for a reference that is neither a tag nor a digest is 404 MANIFEST_UNKNOWN', () => {
    expect(parseManifestReference('17-alpine')).toEqual({ kind: 'tag', tag: '17-alpine' });
    for (const reference of ['.INVALID_MANIFEST_NAME', 't'.repeat(129), 'sha256:zz', `md5:${'a'.repeat(32)}`, 'a b']) {
      expect(codeOf(() => parseManifestReference(reference))).toBe('MANIFEST_UNKNOWN');
    }
  });
});

describe('Range', () => {
  it('resolves single ranges against a size', () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-5', 100)).toEqual({ start: 95, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=50-5000', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('BYTES=1-2', 100)).toEqual({ start: 1, end: 2 });
  });
  it('answers a multi-range with the whole blob when one range at least is satisfiable', () => {
    expect(parseRange('bytes=0-1,3-4', 100)).toBeUndefined();
    expect(parseRange('bytes=200-, -5', 100)).toBeUndefined();
    expect(codeOf(() => parseRange('bytes=100-,200-300', 100))).toBe('RANGE_INVALID');
    expect(codeOf(() => parseRange('bytes=0-1,x', 100))).toBe('RANGE_INVALID');
    expect(codeOf(() => parseRange(`bytes=${Array.from({ length: 101 }, () => '0-1').join(',')}`, 100))).toBe('RANGE_INVALID');
  });
  it.each(['bytes=100-', 'bytes=-0', 'bytes=1-0', 'bytes=100-,101-', 'lines=1-2', 'bytes=', 'bytes=a-b', 'bytes=--1', 'bytes=1234567890123456-'])(
    'refuses %s with RANGE_INVALID',
    (header) => {
      expect(codeOf(() => parseRange(header, 100))).toBe('RANGE_INVALID');
    },
  );
  it('tells unsatisfiable ranges the size', () => {
    try {
      parseRange('bytes=100-', 100);
    } catch (err) {
      expect((err as RegistryError).headers['Content-Range']).toBe('bytes */100');
      expect((err as RegistryError).status).toBe(416);
    }
  });
  it('parses syntax without a size', () => {
    expect(parseRangeSpec('bytes=5-')).toEqual({ kind: 'from', start: 5, end: undefined });
    expect(parseRangeSpec('bytes=-5')).toEqual({ kind: 'suffix', length: 5 });
  });
});

describe('manifests', () => {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  it('lists references of an image and media type from the document', () => {
    const doc = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { digest: d('a'), size: 1 },
      layers: [{ digest: d('b'), size: 2 }],
    };
    const parsed = parseManifest(Buffer.from(JSON.stringify(doc)));
    expect(parsed.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(parsed.references.map((r) => [r.kind, r.digest])).toEqual([
      ['config', d('a')],
      ['layer', d('b')],
    ]);
  });
  it('infers OCI types when mediaType is absent: header first, then shape', () => {
    const image = { schemaVersion: 2, config: { digest: d('a') }, layers: [] };
    expect(parseManifest(Buffer.from(JSON.stringify(image))).mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const idx = { schemaVersion: 2, manifests: [{ digest: d('c'), platform: { os: 'linux', architecture: 'arm64' } }] };
    const parsed = parseManifest(Buffer.from(JSON.stringify(idx)));
    expect(parsed.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(parsed.references[0]).toMatchObject({ kind: 'manifest', platform: { os: 'linux', architecture: 'arm64' } });
    expect(parseManifest(Buffer.from(JSON.stringify(idx)), 'application/vnd.docker.distribution.manifest.list.v2+json; charset=x').mediaType).toBe(
      'application/vnd.docker.distribution.manifest.list.v2+json',
    );
  });
  it.each([
    ['not json', '{'],
    ['an array', '[]'],
    ['schema 1', JSON.stringify({ schemaVersion: 1, fsLayers: [] })],
    ['an unknown media type', JSON.stringify({ schemaVersion: 2, mediaType: 'text/plain' })],
    ['a bad layer digest', JSON.stringify({ schemaVersion: 2, config: { digest: d('a') }, layers: [{ digest: 'sha256:zz' }] })],
    ['no shape', JSON.stringify({ schemaVersion: 2 })],
  ])('refuses %s with MANIFEST_INVALID', (_what, text) => {
    expect(codeOf(() => parseManifest(Buffer.from(text)))).toBe('MANIFEST_INVALID');
  });
});

describe('Accept negotiation', () => {
  it('reads the accepted types, and "anything" as undefined', async () => {
    const { acceptedTypes } = await import('../../src/core/negotiate.js');
    expect(acceptedTypes(undefined)).toBeUndefined();
    expect(acceptedTypes('*/*')).toBeUndefined();
    expect(acceptedTypes('application/vnd.oci.image.index.v1+json, */*;q=0.8')).toBeUndefined();
    expect([...(acceptedTypes('application/vnd.oci.image.index.v1+json; q=0.5, Application/JSON') ?? [])]).toEqual([
      'application/vnd.oci.image.index.v1+json',
      'application/json',
    ]);
  });
});

describe('referrers', () => {
  it('names the referrers tag as the spec`s table does', () => {
    expect(referrersTag(`sha256:${'a'.repeat(64)}`)).toBe(`sha256-${'a'.repeat(64)}`);
    expect(referrersTag(`sha512:${'a'.repeat(128)}`)).toBe(`sha512-${'a'.repeat(64)}`);
    expect(
      referrersTag(
        'test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation',
      ),
    ).toBe('test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot');
  });

  it('describes a stored referrer: artifactType, else the config media type for an image manifest, and its annotations', () => {
    const d = (c: string) => `sha256:${c.repeat(64)}`;
    const descriptorOf = (doc: unknown, mediaType = 'application/vnd.oci.image.manifest.v1+json') => {
      const content = Buffer.from(JSON.stringify(doc));
      return referrerDescriptor({ digest: d('f'), mediaType, content });
    };
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('a'), size: 1 };
    const config = { mediaType: 'application/vnd.example.sig', digest: d('b'), size: 2 };
    expect(
      descriptorOf({ schemaVersion: 2, artifactType: 'application/vnd.example.sbom', config, layers: [], subject, annotations: { a: 'b', n: 1 } }),
    ).toEqual({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: d('f'),
      size: expect.any(Number),
      artifactType: 'application/vnd.example.sbom',
      annotations: { a: 'b' },
    });
    expect(descriptorOf({ schemaVersion: 2, config, layers: [], subject })?.artifactType).toBe('application/vnd.example.sig');
    const index = descriptorOf({ schemaVersion: 2, manifests: [], subject }, 'application/vnd.oci.image.index.v1+json');
    expect(index).toEqual({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: d('f'), size: expect.any(Number) });
    expect(referrerDescriptor({ digest: d('f'), mediaType: 'x', content: Buffer.from('not json') })).toBeUndefined();
  });

  it('reads a referrers index, leaving out entries that are not descriptors; anything else is no index', () => {
    const d = `sha256:${'c'.repeat(64)}`;
    const good = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: 3, artifactType: 'x/y', annotations: { k: 'v' } };
    const doc = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [good, { digest: 'sha256:zz', size: 1, mediaType: 'm' }, 'x', { ...good, size: -1 }],
    };
    expect(parseReferrersIndex(Buffer.from(JSON.stringify(doc)))).toEqual([good]);
    expect(parseReferrersIndex(Buffer.from(JSON.stringify({ manifests: [] })))).toEqual([]);
    expect(
      parseReferrersIndex(Buffer.from(JSON.stringify({ mediaType: 'application/vnd.oci.image.manifest.v1+json', manifests: [] }))),
    ).toBeUndefined();
    expect(parseReferrersIndex(Buffer.from('{"config":{}}'))).toBeUndefined();
    expect(parseReferrersIndex(Buffer.from('garbage'))).toBeUndefined();
  });
});
