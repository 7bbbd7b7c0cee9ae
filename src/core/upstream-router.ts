import { RegistryError } from '../errors/registry-error.js';
import type { FillSource } from '../fill/fill.js';
import type { ReferrerDescriptor } from '../oci/referrers.js';
import { splitRepository } from './namespace.js';
import type { ManifestBody, ManifestHead, TagPage, Upstream } from './upstream-port.js';

/**
 * The core sees one Upstream over qualified repositories (`ghcr.io/foo/bar`); each call
 * goes to that host's own client with the name as that registry knows it (`foo/bar`).
 * A host with no client is refused here, never contacted.
 */
export class UpstreamRouter implements Upstream {
  readonly #byHost: ReadonlyMap<string, Upstream>;

  constructor(byHost: ReadonlyMap<string, Upstream>) {
    this.#byHost = byHost;
  }

  #route(repository: string): { upstream: Upstream; remote: string } {
    const { host, remote } = splitRepository(repository);
    const upstream = this.#byHost.get(host);
    if (!upstream || !remote) {
      throw new RegistryError('NAME_UNKNOWN', `no upstream is configured for repository "${repository}"`, { detail: { name: repository } });
    }
    return { upstream, remote };
  }

  async headManifest(repository: string, reference: string): Promise<ManifestHead> {
    const { upstream, remote } = this.#route(repository);
    return await upstream.headManifest(remote, reference);
  }

  async getManifest(repository: string, reference: string, maxBytes: number): Promise<ManifestBody> {
    const { upstream, remote } = this.#route(repository);
    return await upstream.getManifest(remote, reference, maxBytes);
  }

  async headBlob(repository: string, digest: string): Promise<{ size: number | undefined }> {
    const { upstream, remote } = this.#route(repository);
    return await upstream.headBlob(remote, digest);
  }

  async openBlob(repository: string, digest: string): Promise<FillSource> {
    const { upstream, remote } = this.#route(repository);
    return await upstream.openBlob(remote, digest);
  }

  async openBlobFrom(repository: string, digest: string, offset: number): Promise<FillSource> {
    const { upstream, remote } = this.#route(repository);
    return await upstream.openBlobFrom(remote, digest, offset);
  }

  async listTags(repository: string, n: number | undefined, last: string | undefined): Promise<TagPage> {
    const { upstream, remote } = this.#route(repository);
    return await upstream.listTags(remote, n, last);
  }

  async listReferrers(repository: string, digest: string, maxBytes: number): Promise<ReferrerDescriptor[] | undefined> {
    const { upstream, remote } = this.#route(repository);
    return await upstream.listReferrers(remote, digest, maxBytes);
  }
}
