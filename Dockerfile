# naftiko gateway image: docker build -t naftiko .
# Inside the container the exposes bind to 0.0.0.0, so the gateway is closed by default: an expose
# without inbound authentication refuses to start there. Either give the capability inbound
# authentication (the token way: mount your capability with `authentication: {type: bearer, token:
# '{{GATEWAY_TOKEN}}'}` on each expose and pass -e GATEWAY_TOKEN), or opt in explicitly:
#   docker run -e CHATGPT_API_KEY -e NAFTIKO_ALLOW_UNAUTHENTICATED=1 -p 8080:8080 -p 9090:9090 naftiko
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY schemas ./schemas
RUN npm ci --ignore-scripts && npm run build

FROM node:20-slim
ENV NODE_ENV=production \
    NAFTIKO_HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY capabilities ./capabilities
USER node
EXPOSE 8080 9090
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["run", "capabilities/chat-completions.yaml"]
