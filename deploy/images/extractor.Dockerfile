# taj/extractor: TAJ feature extractor, face, tattoo and mark models inside. Built by scripts/build-images.sh from the files
# deploy/images/stage.ts prepared in .run/images/ctx/extractor (sources + run-time node_modules).
FROM localhost/taj/node20:bookworm
COPY app/ /app/
WORKDIR /app
# In a container the servers listen on every interface (the services' own default is loopback).
ENV GRPC_HOST=0.0.0.0 METRICS_HOST=0.0.0.0
USER 10001:10001
# Exec form, no shell: signals reach node, which drains on SIGTERM. tsx compiles into /tmp.
ENTRYPOINT ["/usr/local/bin/node", "--import", "tsx", "services/extractor/src/main.ts"]
LABEL org.opencontainers.image.title="taj/extractor" \
      org.opencontainers.image.description="TAJ feature extractor, face, tattoo and mark models inside"
