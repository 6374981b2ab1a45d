# The image of the orchestrator worker (`node dist/worker/orchestrator.js`, the default command)
# and of the node agent (`node dist/worker/node-agent.js`, run as root; see docker-compose.yml and
# the Helm chart). NODE_VERSION is scripts/stack/versions.env's, the Node.js the tests run on
# (test/unit/docker-compose.test.ts keeps them equal).
ARG NODE_VERSION=24.22.3
FROM node:${NODE_VERSION}-bookworm-slim AS build
# zstd-napi is compiled by node-gyp when no prebuilt binary downloads.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.json && npm prune --omit=dev \
  && node -e 'require("zstd-napi"); require("@temporalio/core-bridge")'

FROM node:${NODE_VERSION}-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
CMD ["node", "dist/worker/orchestrator.js"]
