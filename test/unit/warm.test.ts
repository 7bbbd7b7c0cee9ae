import { describe, expect, it } from 'vitest';
import { parentImages } from '../../src/warm/dockerfile.js';
import { hostPlatform, parseImageRef, parsePlatform, platformMatches } from '../../src/warm/image-ref.js';

describe('Dockerfile parent images', () => {
  it('finds every FROM of a multi-stage file, substitutes ARG defaults, skips stages and scratch', () => {
    const dockerfile = `
# syntax=docker/dockerfile:1
ARG NODE_VERSION=17
ARG VARIANT="alpine"
ARG REGISTRY_MIRROR
ARG GO=1.21
FROM --platform=$BUILDPLATFORM golang:\${GO}-alpine AS build
RUN echo hi \\
    && echo there
ARG NODE_VERSION=99
FROM node:\${NODE_VERSION}-\${VARIANT} AS runtime
FROM build AS test
FROM --platform=linux/arm64 redis:\${REDIS:-7}
from scratch
COPY --from=build /out /out
FROM \\
  docker.io/library/busybox:1.36
FROM Runtime
`;
    expect(parentImages(dockerfile)).toEqual([
      { image: 'golang:1.21-alpine', platform: undefined },
      { image: 'node:17-alpine', platform: undefined },
      { image: 'redis:7', platform: 'linux/arm64' },
      { image: 'docker.io/library/busybox:1.36', platform: undefined },
    ]);
  });

  it('handles ${VAR-default}, ${VAR:+alt} and unquoted values', () => {
    const out = parentImages('ARG A=\nARG B=x\nFROM img:${A-unset}${A:-empty}\nFROM img:${B:+alt}\n');
    expect(out.map((p) => p.image)).toEqual(['img:empty', 'img:alt']);
  });

  it('expands ARG defaults that refer to earlier ARGs, as Docker does', () => {
    const out = parentImages('ARG BASE=node\nARG VERSION=17\nARG IMAGE=${BASE}:${VERSION}-alpine\nFROM $IMAGE\n');
    expect(out.map((p) => p.image)).toEqual(['node:17-alpine']);
  });

  it('--build-arg values override declared ARGs (and what refers to them); undeclared ones change nothing', () => {
    const dockerfile = 'ARG BASE=node\nARG VERSION=17\nARG IMAGE=${BASE}:${VERSION}-alpine\nFROM $IMAGE\nFROM ${OTHER:-redis}:7\n';
    const args = new Map([
      ['VERSION', '20'],
      ['OTHER', 'nginx'],
    ]);
    expect(parentImages(dockerfile, args).map((p) => p.image)).toEqual(['node:20-alpine', 'redis:7']);
    expect(parentImages(dockerfile, new Map([['IMAGE', 'busybox']])).map((p) => p.image)).toEqual(['busybox', 'redis:7']);
  });
});

describe('image references', () => {
  it.each([
    ['node', 'docker.io/library/node', 'latest'],
    ['node:17-alpine', 'docker.io/library/node', '17-alpine'],
    ['docker.io/library/node:17-alpine', 'docker.io/library/node', '17-alpine'],
    ['index.docker.io/myorg/app:1.0', 'docker.io/myorg/app', '1.0'],
    ['myorg/team/app', 'docker.io/myorg/team/app', 'latest'],
    [`node@sha256:${'a'.repeat(64)}`, 'docker.io/library/node', `sha256:${'a'.repeat(64)}`],
    [`node:17@sha256:${'a'.repeat(64)}`, 'docker.io/library/node', `sha256:${'a'.repeat(64)}`],
    // Other registries are named by host; library/ is Docker Hub's alone. Whether the host is configured is the server's check.
    ['ghcr.io/org/app:1', 'ghcr.io/org/app', '1'],
    ['GHCR.io/node', 'ghcr.io/node', 'latest'],
    ['localhost:5000/app', 'localhost:5000/app', 'latest'],
  ])('%s → %s %s', (input, repository, reference) => {
    const ref = parseImageRef(input);
    expect([ref.repository, ref.referenceText]).toEqual([repository, reference]);
  });
  it.each(['Node:1', 'node:.bad', 'node@sha256:zz', '', 'ghcr.io/', 'ghcr.io/Org/app'])('refuses %j', (input) => {
    expect(() => parseImageRef(input)).toThrow();
  });
  it('parses and matches platforms', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(() => parsePlatform('linux')).toThrow(/os\/arch/);
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(false);
    expect(hostPlatform().os).toBe('linux');
  });
});
