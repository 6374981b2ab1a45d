# The orchestrator worker image (docker-compose.yml builds it). The node agent runs from the same
# image as `node dist/worker/node-agent.js`, as root, with its service account (or
# TDR_AGENT_KUBECONFIG and TDR_AGENT_CONTEXT) to resolve volumes through its cluster's API.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
CMD ["node", "dist/worker/orchestrator.js"]
