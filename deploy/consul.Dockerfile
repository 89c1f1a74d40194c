# Consul v1.14.11 (MPL-2.0) for local use only: the Compose stack and its
# specs, on machines that reach no registry. Elsewhere use HashiCorp's
# official image (hashicorp/consul) or Helm chart; see README.md.
# `make image` stages a static build of bin/consul (CGO_ENABLED=0).
FROM scratch

ARG VERSION=1.14.11
LABEL org.opencontainers.image.title="consul (local build for actorlog)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MPL-2.0" \
      org.opencontainers.image.source="https://github.com/hashicorp/consul"

COPY consul /bin/consul
COPY --chown=65532:65532 data /consul/data
COPY --chown=65532:65532 data /tmp

USER 65532:65532
EXPOSE 8500 8600/udp 8301 8301/udp 8300
ENTRYPOINT ["/bin/consul"]
CMD ["agent", "-dev", "-client", "0.0.0.0", "-log-level", "warn"]
