import type { Pin } from '../ports/metadata-repo.js';
import { configFrom, imageRefOrUsage, parseCommand, STORE_OPTIONS, UsageError } from './common.js';
import { onMetadata } from './data-dir.js';

export async function unpinCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, STORE_OPTIONS);
  if (positionals.length === 0) throw new UsageError('name at least one image to unpin');
  const refs = positionals.map(imageRefOrUsage);
  const results = await onMetadata(configFrom(values, env), {
    remote: (client) => Promise.all(refs.map((ref) => client.unpin(ref.display).then(({ removed }) => ({ ref, removed })))),
    local: (metadata) => Promise.all(refs.map(async (ref) => ({ ref, removed: await metadata.unpin(ref.repository, ref.referenceText) }))),
  });
  let missing = 0;
  for (const { ref, removed } of results) {
    if (removed) process.stdout.write(`unpinned ${ref.display}\n`);
    else {
      missing++;
      process.stderr.write(`${ref.display} was not pinned\n`);
    }
  }
  return missing > 0 ? 1 : 0;
}

export async function pinsCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, STORE_OPTIONS);
  if (positionals.length > 0) throw new UsageError('pins takes no arguments');
  const pins: Pin[] = await onMetadata(configFrom(values, env), { remote: (client) => client.pins(), local: (metadata) => metadata.listPins() });
  for (const pin of pins) {
    const sep = pin.reference.includes(':') ? '@' : ':';
    process.stdout.write(`${pin.repository}${sep}${pin.reference}\t${new Date(pin.pinnedAt).toISOString()}\n`);
  }
  return 0;
}
