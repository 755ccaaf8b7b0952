# syntax=docker/dockerfile:1
# One image for every Coffer service: `docker run coffer:local server -config=/etc/coffer/config.d -service=gateway`.

# ---- build: install everything, compile, then drop the dev dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV CI=true NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# After the build: tests and benchmarks go, and so do PGlite and its seed (about 67 MiB), which only
# `coffer server -dev` uses; the production image never runs it.
RUN npm run build \
    && find dist -name '*.test.js' -delete \
    && find dist -name '*.test.js.map' -delete \
    && npm prune --omit=dev \
    && rm -rf node_modules/@electric-sql dist/dev-seed.tar dist/dev-seed.json dist/plugin-tests dist/test dist/bench

# ---- runtime: only what runs ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# A dedicated user with a fixed uid, so that operators can give it the plugin directory and volumes.
RUN groupadd --system --gid 10001 coffer \
    && useradd --system --uid 10001 --gid coffer --home-dir /var/lib/coffer --shell /usr/sbin/nologin coffer \
    && mkdir -p /etc/coffer/config.d /var/lib/coffer \
    && chown coffer:coffer /var/lib/coffer
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The built plugins, owned by root and not writable by anyone else: the runner refuses group/other-writable files.
COPY --from=build --chown=root:root --chmod=0755 /app/dist/plugins /var/lib/coffer/plugins
USER coffer
EXPOSE 8200
ENTRYPOINT ["node", "/app/bin/coffer.js"]
CMD ["server", "-config=/etc/coffer/config.d"]
