# DropSpot's production image: `docker build -t dropspot .`, then see README "Running in production".
# There is no Docker engine where this project is developed and tested: server/test/production-image.test.ts
# carries out this file's runtime stage itself (it reads the instructions below) and checks the result.
# It understands only FROM, ARG, ENV, WORKDIR, COPY, RUN (npm ci), USER, EXPOSE, HEALTHCHECK and CMD.

# Node 24 (the version the project pins in package.json's devDependencies), Debian slim.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# Build stage: every dependency, then the SvelteKit client (client/build).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund
RUN npm run build

# Runtime stage: production dependencies only, the server's TypeScript (run by Node 24's own type
# stripping, no build step), the migrations and the built client; no compiler, no Vite, no
# embedded PostgreSQL (DATABASE_URL is required).
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/package.json
COPY server/package.json server/package.json
COPY client/package.json client/package.json
# --legacy-peer-deps: npm otherwise also installs an optional peer that the lockfile holds for
# development (altcha-lib's optional peer @sveltejs/kit brings Vite, Svelte and TypeScript;
# openai's brings undici). Every required peer is still installed: the image test checks it.
RUN npm ci --omit=dev --legacy-peer-deps --no-audit --no-fund && npm cache clean --force
COPY mikro-orm.config.ts ./
COPY protocol/src protocol/src
COPY server/src server/src
COPY migrations migrations
COPY --from=build /app/client/build client/build
# The official image's unprivileged user: it can read the app and write nothing in it.
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Pending migrations are applied at start, before the server listens.
CMD ["node", "server/src/main.ts"]
