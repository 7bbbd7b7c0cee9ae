import { z } from 'zod';
import { byteSize } from './size.js';

/** host:port, [v6]:port or :port. */
const LISTEN = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/;

export function parseListen(value: string): { host: string; port: number } | undefined {
  const match = LISTEN.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

const httpUrl = z.string().refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http:// or https:// URL');

/** A tag TTL rule: a glob (`*-alpine`, `latest`) or a regular expression on the tag; first match wins. */
const tagTtlRule = z
  .object({
    match: z.string().min(1).optional(),
    regex: z
      .string()
      .min(1)
      .refine((v) => {
        try {
          new RegExp(v);
          return true;
        } catch {
          return false;
        }
      }, 'must be a valid regular expression')
      .optional(),
    ttlSeconds: z.number().int().nonnegative(),
  })
  .strict()
  .refine((r) => (r.match === undefined) !== (r.regex === undefined), 'give either match (a glob) or regex');

/** Tags that look like full versions (17.4.0-alpine3.15, v1.2.3) rarely move; `latest` often does. */
export const DEFAULT_TAG_TTL_RULES = [
  { match: 'latest', ttlSeconds: 60 },
  { regex: '^v?\\d+\\.\\d+\\.\\d+([-+._][0-9A-Za-z.]+)*$', ttlSeconds: 86400 },
  { match: '*-alpine', ttlSeconds: 3600 },
];

/**
 * Every setting with its default in one place; units in the key names.
 * Zod is used rather than hand-written checks: one declaration gives the types, the
 * defaults, strict unknown-key rejection and error paths that name the key.
 */
export const configSchema = z
  .object({
    listen: z
      .string()
      .refine((v) => parseListen(v) !== undefined, 'must be HOST:PORT, e.g. 0.0.0.0:5000')
      .default('0.0.0.0:5000'),
    dataDir: z.string().min(1).default('./data'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** json: one JSON object a line (for collectors); pretty: one readable line per entry (for a terminal). */
    logFormat: z.enum(['json', 'pretty']).default('json'),
    upstream: z
      .object({
        url: httpUrl.default('https://registry-1.docker.io'),
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
        /** Token realms trusted for this upstream; default: auth.docker.io for Docker Hub, else the upstream's origin. */
        tokenRealmOrigins: z.array(httpUrl).optional(),
        /** Origins a redirect may lead to even on internal addresses (a CDN inside the network); other targets must be public hosts. */
        redirectOrigins: z.array(httpUrl).default([]),
        connectTimeoutMs: z.number().int().positive().default(3000),
        headersTimeoutMs: z.number().int().positive().default(5000),
        bodyTimeoutMs: z.number().int().positive().default(30000),
        /** Total time a manifest, tag list, HEAD or token call may take (and a blob GET until its headers): past it, stale or 504. */
        requestDeadlineMs: z.number().int().positive().default(10000),
        /** The longest a 429 or a spent pull quota holds manifest GETs back, whatever Retry-After (or the quota window) says. */
        maxRetryAfterSeconds: z.number().int().nonnegative().default(3600),
        /** How long a tag is served from the cache with no upstream request; after it, one HEAD revalidates. */
        tagTtlSeconds: z.number().int().nonnegative().default(300),
        tagTtlRules: z.array(tagTtlRule).default(DEFAULT_TAG_TTL_RULES),
      })
      .strict()
      .refine((u) => (u.username === undefined) === (u.password === undefined), 'username and password go together')
      .prefault({}),
    limits: z
      .object({
        maxManifestBytes: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024),
        maxPageSize: z.number().int().positive().max(10000).default(1000),
      })
      .strict()
      .prefault({}),
    /** A fill may take as long as its bytes at minBytesPerSecond, and at least minSeconds; then it fails (an upstream that drips bytes). */
    fills: z
      .object({
        minSeconds: z.number().positive().default(120),
        minBytesPerSecond: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    /** A bounded cache: least recently pulled blobs go first once the store passes maxSizeBytes, down to lowWaterPercent of it. */
    cache: z
      .object({
        maxSizeBytes: byteSize.optional(),
        lowWaterPercent: z.number().int().min(1).max(100).default(90),
        /** Blobs not pulled for this long go whatever the size. */
        maxAgeDays: z.number().positive().optional(),
        /** The blobs of manifests pulled this recently are never evicted (an image being pulled now). */
        protectRecentMinutes: z.number().nonnegative().default(10),
        /** How often the server checks the cap (it also checks after each stored blob). */
        evictEverySeconds: z.number().positive().default(60),
        /** How often the server collects garbage; 0: only `cargohold gc`. */
        gcEveryMinutes: z.number().nonnegative().default(60),
        /** A blob recorded this recently is never garbage: its manifest may still be on its way. */
        gcGraceMinutes: z.number().nonnegative().default(60),
      })
      .strict()
      .prefault({}),
    /** The data dir lease `serve` holds (one filler per data dir), renewed every third of its TTL. */
    lease: z
      .object({
        ttlMs: z.number().int().min(300).default(15000),
      })
      .strict()
      .prefault({}),
    /** /readyz answers 503 when the data dir's filesystem has less free space than minFreeBytes (a number or `1GiB`, `500MB`). */
    health: z
      .object({
        minFreeBytes: byteSize.default(2 ** 30),
      })
      .strict()
      .prefault({}),
    /** Where blobs live: the data dir (default), or an S3-compatible bucket (the data dir keeps metadata and the fills' spool files). */
    storage: z
      .object({
        s3: z
          .object({
            /** An S3-compatible endpoint (Ceph's RADOS gateway, MinIO); absent: AWS S3 for the region. */
            endpoint: httpUrl.optional(),
            bucket: z.string().min(3).max(63),
            region: z.string().min(1).default('us-east-1'),
            /** Keys go under this prefix (`mirror/`), so one bucket can hold several mirrors. */
            prefix: z.string().default(''),
            /** bucket in the path (http://host/bucket/key), as most S3-compatible servers want. */
            forcePathStyle: z.boolean().default(true),
            /** Absent: the AWS SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles). Never logged. */
            credentials: z
              .object({
                accessKeyId: z.string().min(1),
                secretAccessKey: z.string().min(1),
                sessionToken: z.string().min(1).optional(),
              })
              .strict()
              .optional(),
            /** Bytes per uploaded part (S3 needs at least 5 MiB); a blob smaller than this is one conditional PUT. */
            partSizeBytes: byteSize
              .refine((n) => n >= 5 * 1024 * 1024, 'must be at least 5MiB')
              .refine((n) => n <= 5 * 1024 ** 3, 'must be at most 5GiB')
              .default(8 * 1024 * 1024),
            /** Answer GETs of stored blobs with a 307 to a presigned URL of the object: clients must reach the endpoint. */
            redirect: z.boolean().default(false),
            /** How long a presigned URL is valid. */
            redirectExpirySeconds: z.number().int().min(1).max(604800).default(600),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    shutdownTimeoutMs: z.number().int().nonnegative().default(10000),
    /** Never contact the upstream: serve what is cached, answer 503 for the rest. */
    offline: z.boolean().default(false),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
