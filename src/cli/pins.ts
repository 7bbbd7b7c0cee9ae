import { MetadataStore } from '../metadata/store.js';
import { openDatabase } from '../metadata/db.js';
import { StoragePaths } from '../storage/paths.js';
import { mkdirSync } from 'node:fs';
import { configFrom, imageRefOrUsage, parseCommand, STORE_OPTIONS, UsageError } from './common.js';


/** Opens only the metadata: listing and removing pins needs no upstream. */
function openMetadata(args: string[], env: NodeJS.ProcessEnv): { metadata: MetadataStore; positionals: string[]; close(): void } {
  const { values, positionals } = parseCommand(args, STORE_OPTIONS);
  const config = configFrom(values, env);
  const paths = new StoragePaths(config.dataDir);
  mkdirSync(paths.root, { recursive: true });
  const db = openDatabase(paths.database);
  return { metadata: new MetadataStore(db), positionals, close: () => db.close() };
}

export async function unpinCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { metadata, positionals, close } = openMetadata(args, env);
  try {
    if (positionals.length === 0) throw new UsageError('name at least one image to unpin');
    let missing = 0;
    for (const image of positionals) {
      const ref = imageRefOrUsage(image);
      if (metadata.unpin(ref.repository, ref.referenceText)) process.stdout.write(`unpinned ${ref.display}\n`);
      else {
        missing++;
        process.stderr.write(`${ref.display} was not pinned\n`);
      }
    }
    return missing > 0 ? 1 : 0;
  } finally {
    close();
  }
}

export async function pinsCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { metadata, positionals, close } = openMetadata(args, env);
  try {
    if (positionals.length > 0) throw new UsageError('pins takes no arguments');
    for (const pin of metadata.listPins()) {
      const sep = pin.reference.includes(':') ? '@' : ':';
      process.stdout.write(`${pin.repository}${sep}${pin.reference}\t${new Date(pin.pinnedAt).toISOString()}\n`);
    }
    return 0;
  } finally {
    close();
  }
}
