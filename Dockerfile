# The platform's image: its runtime dependencies installed once at build (no dev tools), the
# source run by tsx as `npm start` runs it, as the unprivileged node user, data in /data.
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY commands ./commands
COPY domain ./domain
COPY infra ./infra
COPY projections ./projections
COPY read-api ./read-api
COPY simulators ./simulators
RUN mkdir -p /data && chown node:node /data
USER node
ENV HCP_DATA_DIR=/data HCP_HOST=0.0.0.0 HCP_PORT=4000
VOLUME /data
EXPOSE 4000
# exec form: node is PID 1's only child (compose adds an init), so SIGTERM reaches it and it stops cleanly
CMD ["node", "bin/hcp.js", "start"]
