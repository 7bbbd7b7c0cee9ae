import { afterEach, beforeEach } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { FakeHub } from './fake-hub.js';
import { startMirror, type Mirror } from './mirror.js';

/** A fresh fake hub and a mirror in front of it for each test; both torn down even on failure. */
export function useHubAndMirror(overrides: (hub: FakeHub) => ConfigInput = () => ({})): { hub: FakeHub; mirror: Mirror } {
  const ctx = {} as { hub: FakeHub; mirror: Mirror };
  beforeEach(async () => {
    ctx.hub = await FakeHub.start();
    const extra = overrides(ctx.hub);
    ctx.mirror = await startMirror(ctx.hub.registryUrl, {
      ...extra,
      upstream: { tokenRealmOrigins: [ctx.hub.realmUrl], redirectOrigins: [ctx.hub.cdnUrl], ...extra.upstream },
    });
  });
  afterEach(async () => {
    await ctx.mirror?.destroy();
    await ctx.hub?.close();
  });
  return ctx;
}
