import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';
import type { UpstreamClient } from './client.js';
import { errorForNetworkFailure } from './errors.js';
import { UpstreamError } from '../errors/upstream-error.js';

/** Times a transfer resumes after the upstream broke off, as long as each try brought bytes. */
const MAX_RESUMES = 3;

/** One blob's bytes from the upstream, whatever it takes to get them all. */
export interface UpstreamBlobStream {
  /** Content-Length announced by the upstream, when it sent one. */
  size: number | undefined;
  /** The blob's bytes in order; rejects with an UpstreamError (or the abort reason). */
  chunks: AsyncIterable<Buffer>;
  /** Stops the transfer: the iteration rejects with this reason, and nothing resumes. */
  abort(reason: Error): void;
}

/**
 * GETs a blob and keeps it coming: a transfer of known size that breaks off (reset,
 * timeout, short body) resumes with `Range: bytes=N-` where it stopped, up to MAX_RESUMES
 * times while each try brings bytes. More bytes than announced is refused at once. Every
 * failure is an UpstreamError; nothing here knows where the bytes go.
 */
export async function openBlobStream(client: UpstreamClient, repository: string, digest: string, logger: Logger): Promise<UpstreamBlobStream> {
  const first = await client.getBlob(repository, digest);
  const size = first.size;
  let current: Readable = quiet(first.body);
  let aborted: Error | undefined;
  // Read through a function: abort() sets it while the generator awaits, which narrowing cannot see.
  const abortedWith = (): Error | undefined => aborted;

  async function* chunks(): AsyncGenerator<Buffer> {
    let received = 0;
    let complete = false;
    try {
      for (let resumes = 0; ; resumes++) {
        const before = received;
        try {
          for await (const chunk of current as AsyncIterable<Buffer>) {
            if (size !== undefined && received + chunk.length > size) {
              throw new UpstreamError('SIZE_INVALID', 'upstream sent more bytes than announced', 'invalid', { status: 502 });
            }
            received += chunk.length;
            yield chunk;
          }
          if (size === undefined || received === size) {
            complete = true;
            return;
          }
          throw new Error(`upstream ended the blob after ${received} of ${size} bytes`);
        } catch (err) {
          const stop = abortedWith();
          if (stop) throw stop;
          const progressed = resumes === 0 || received > before;
          if (err instanceof RegistryError) throw err;
          if (size === undefined || !progressed || resumes >= MAX_RESUMES) {
            throw new UpstreamError('UNAVAILABLE', `blob transfer failed: ${(err as Error).message}`, 'unreachable', { cause: err });
          }
          current.destroy();
          logger.info({ digest, received, err: (err as Error).message }, 'upstream broke off mid-blob; resuming with Range');
          current = quiet(
            await client.getBlobFrom(repository, digest, received).catch((resumeErr: unknown) => {
              throw resumeErr instanceof RegistryError ? resumeErr : errorForNetworkFailure(resumeErr, 'blob');
            }),
          );
          const stopped = abortedWith();
          if (stopped) throw stopped;
        }
      }
    } finally {
      if (!complete) current.destroy();
    }
  }

  return {
    size,
    chunks: chunks(),
    abort(reason) {
      aborted ??= reason;
      current.destroy(); // the iteration rethrows `aborted`
    },
  };
}

/**
 * The rest of a blob from a ranged GET (another replica's transfer broke off there): its
 * bytes as they come, every failure an UpstreamError. No resuming of its own: the caller
 * already is the resume.
 */
export function restOfBlob(body: Readable): UpstreamBlobStream {
  const current = quiet(body);
  let aborted: Error | undefined;
  const abortedWith = (): Error | undefined => aborted;
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of current as AsyncIterable<Buffer>) yield chunk;
    } catch (err) {
      const stop = abortedWith();
      if (stop) throw stop;
      if (err instanceof RegistryError) throw err;
      throw new UpstreamError('UNAVAILABLE', `blob transfer failed: ${(err as Error).message}`, 'unreachable', { cause: err });
    } finally {
      current.destroy();
    }
  }
  return {
    size: undefined,
    chunks: chunks(),
    abort(reason) {
      aborted ??= reason;
      current.destroy();
    },
  };
}

/** A body's errors reach whoever iterates it; one destroyed before anyone does must not raise an unhandled 'error'. */
function quiet(body: Readable): Readable {
  body.on('error', () => undefined);
  return body;
}
