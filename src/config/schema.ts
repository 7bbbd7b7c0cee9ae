import { z } from 'zod';
import { REPOSITORY_GLOB } from '../auth/glob.js';
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

/** libpq's URI form, which pg parses: postgres://user:password@host:port/database?sslmode=... */
const postgresUrl = z
  .string()
  .refine((v) => URL.canParse(v) && /^postgres(?:ql)?:$/.test(new URL(v).protocol), 'must be a postgres:// or postgresql:// URL');

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

/** A glob's first component is a registry host (as in a docker reference: a dot, a port or localhost) or a wildcard. */
function namesHost(glob: string): boolean {
  if (glob === '**') return true;
  const first = glob.split('/')[0] as string;
  return glob.includes('/') && (/[.:*?]/.test(first) || first === 'localhost');
}

/** Principals (`anonymous`, `authenticated` or names) who may read the repositories matching a glob on `host/repository`. */
const readRule = z
  .object({
    principals: z.array(z.string().min(1)).min(1),
    repositories: z
      .array(
        z
          .string()
          .regex(REPOSITORY_GLOB, 'must be a glob on host/repository, e.g. docker.io/library/* or ghcr.io/acme/**')
          .refine(namesHost, 'must name the upstream host first, e.g. docker.io/library/*'),
      )
      .min(1),
  })
  .strict();

/** Tags that look like full versions (17.4.0-alpine3.15, v1.2.3) rarely move; `latest` often does. */
export const DEFAULT_TAG_TTL_RULES = [
  { match: 'latest', ttlSeconds: 60 },
  { regex: '^v?\\d+\\.\\d+\\.\\d+([-+._][0-9A-Za-z.]+)*$', ttlSeconds: 86400 },
  { match: '*-alpine', ttlSeconds: 3600 },
];

/** A registry host as clients name it: `ghcr.io`, `registry.k8s.io`, `myregistry.example:5000` (lowercase). */
const HOST_KEY = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;
const DOCKER_HUB_ALIASES = new Set(['registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com']);

const repositoryGlob = z
  .string()
  .min(1)
  .regex(/^[a-z0-9._\-/*?]+$/, 'a repository glob: lowercase name characters, * (one segment), ** (any), ?');

/**
 * One upstream registry behind this mirror, keyed by its host. Unset keys take the
 * `upstream:` section's values (its url and credentials only for docker.io); the url
 * defaults to https://<host>.
 */
const upstreamEntry = z
  .object({
    url: httpUrl.optional(),
    username: z.string().min(1).optional(),
    /** The password inline, the name of an environment variable holding it, or a file holding it (one of the three). */
    password: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    tokenRealmOrigins: z.array(httpUrl).optional(),
    redirectOrigins: z.array(httpUrl).optional(),
    tagTtlSeconds: z.number().int().nonnegative().optional(),
    tagTtlRules: z.array(tagTtlRule).optional(),
    /** Only repositories matching one of these are served (default: all); deny wins over allow. */
    allow: z.array(repositoryGlob).optional(),
    deny: z.array(repositoryGlob).default([]),
    /** Content only authenticated clients may read (enforced by client auth). */
    private: z.boolean().default(false),
  })
  .strict()
  .refine(
    (u) => [u.password, u.passwordEnv, u.passwordFile].filter((v) => v !== undefined).length <= 1,
    'give one of password, passwordEnv, passwordFile',
  )
  .refine(
    (u) => (u.username === undefined) === (u.password === undefined && u.passwordEnv === undefined && u.passwordFile === undefined),
    'username and a password go together',
  );

export const upstreamsSchema = z
  .record(z.string(), upstreamEntry)
  .superRefine((map, ctx) => {
    for (const host of Object.keys(map)) {
      if (!HOST_KEY.test(host))
        ctx.addIssue({ code: 'custom', path: [host], message: 'must be a registry host (lowercase host[:port], e.g. ghcr.io)' });
      else if (DOCKER_HUB_ALIASES.has(host)) ctx.addIssue({ code: 'custom', path: [host], message: 'Docker Hub is configured as docker.io' });
    }
  })
  .default({});

export type UpstreamEntry = z.infer<typeof upstreamEntry>;

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
        /** Content fetched from it (with the mirror's credentials) is served only to authenticated principals the rules let read it. */
        private: z.boolean().default(false),
      })
      .strict()
      .refine((u) => (u.username === undefined) === (u.password === undefined), 'username and password go together')
      .prefault({}),
    /** Client auth: off unless a htpasswd or tokens file is given. */
    auth: z
      .object({
        /** Users and bcrypt hashes, as `htpasswd -B` writes them; clients send them as Basic auth (docker login). */
        htpasswdFile: z.string().min(1).optional(),
        /** `name:token` lines; clients send `Authorization: Bearer <token>`. */
        tokensFile: z.string().min(1).optional(),
        realm: z.string().min(1).default('cargohold'),
        /** Anonymous clients read every repository of a non-private upstream (as a rule naming `anonymous` on `**` would). */
        anonymous: z.boolean().default(false),
        /** Who reads what; default: every authenticated principal reads everything. */
        rules: z.array(readRule).optional(),
        /** How long a verified password is taken without running bcrypt again. */
        verifiedCacheSeconds: z.number().nonnegative().default(60),
        /** After `max` failed logins from one address within `windowSeconds`, its requests with credentials get 429 until the window ends. */
        failedLogins: z
          .object({
            max: z.number().int().positive().default(10),
            windowSeconds: z.number().positive().default(60),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .refine((a) => a.htpasswdFile !== undefined || a.tokensFile !== undefined || (a.rules === undefined && !a.anonymous), {
        message: 'rules and anonymous need client auth on: give htpasswdFile or tokensFile',
      })
      .prefault({}),
    /** Registries behind this mirror by host; docker.io is always one (the `upstream:` section, unless listed here). */
    upstreams: upstreamsSchema,
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
    /** Where the metadata lives: SQLite in the data dir (default), or a PostgreSQL database that replicas share. */
    metadata: z
      .object({
        postgres: z
          .object({
            url: postgresUrl,
            /** Connections this process keeps open to it. */
            poolSize: z.number().int().positive().max(1000).default(10),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Replicas sharing one PostgreSQL database (metadata.postgres) coordinate through it: one
     * upstream fetch per blob, manifest and tag check across all of them, one maintenance
     * leader, one view of the pull quota. A replica that did not start a fill streams it from
     * the one that did, over the replicas' own HTTP port, authenticated by the shared secret.
     */
    cluster: z
      .object({
        /** How the other replicas reach this one (http://10.0.0.5:5000); default http://<hostname>:<listen port>. */
        advertiseUrl: httpUrl.optional(),
        /** The secret every replica shares (at least 16 characters), or secretEnv / secretFile. Without it a replica waits for another's fill to be stored instead of streaming it. */
        secret: z.string().min(16).optional(),
        secretEnv: z.string().min(1).optional(),
        secretFile: z.string().min(1).optional(),
        /** A claim (a fill, a fetch) whose replica stopped renewing it for this long is taken over by another. */
        claimTtlMs: z.number().int().min(300).max(600_000).default(10_000),
        /** How long a replica waits for another's manifest fetch or stored fill before fetching itself. */
        waitMs: z.number().int().min(100).default(60_000),
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
    /** The dashboard on the mirror's port (`/`, `/ui/...`). anonymous: what a client with no credentials may do there. */
    ui: z
      .object({
        enabled: z.boolean().default(true),
        /** none: no dashboard without credentials; view: read-only; admin: the pin/unpin/refresh buttons too. Default: view with client auth off, none with it on. */
        anonymous: z.enum(['none', 'view', 'admin']).optional(),
        /** Principals (htpasswd users, token names; `authenticated`: any) with the admin role: every repository, and the buttons. */
        admins: z.array(z.string().min(1)).default([]),
        /** Principals with the view role: the repositories their read rules allow, no buttons. */
        viewers: z.array(z.string().min(1)).default(['authenticated']),
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
  .strict()
  .refine(
    (c) =>
      !(c.upstream.private || Object.values(c.upstreams).some((u) => u.private)) ||
      c.auth.htpasswdFile !== undefined ||
      c.auth.tokensFile !== undefined,
    {
      message: 'a private upstream needs client auth: give auth.htpasswdFile or auth.tokensFile',
      path: ['upstream', 'private'],
    },
  );

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
