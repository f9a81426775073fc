# naftiko in a container: `docker build -t naftiko .`, then
#   docker run -e CHATGPT_API_KEY -e NAFTIKO_ALLOW_UNAUTHENTICATED=1 -p 8080:8080 -p 9090:9090 naftiko
# (the seed capability has no inbound authentication: reachable from outside the container, it is
# served only when told to). Another capability: mount it and pass `run /path/to/file.yaml`.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY schemas ./schemas
COPY src ./src
RUN npm run build

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    NAFTIKO_HOST=0.0.0.0 \
    NAFTIKO_CONTROL_PORT=9091 \
    NAFTIKO_LOG_FORMAT=json
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY capabilities ./capabilities
USER node
EXPOSE 8080 9090 9091
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9091/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# exec form: node is PID 1 and gets SIGTERM itself (in-flight requests drain, then exit 0)
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["run", "capabilities/chat-completions.yaml"]
