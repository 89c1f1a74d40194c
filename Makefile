# actorlog build, test and run targets. `make help` lists them.
#
# Everything a fresh machine lacks is installed by `make setup` (which the
# other targets call as needed): protoc from Debian only when the generated
# code must be rebuilt, and Consul v1.14.11 built from the Go module proxy.

SHELL        := /bin/bash
GO           ?= go
BIN          := $(CURDIR)/bin
CONSUL       := $(BIN)/consul
ACTORLOG     := $(BIN)/actorlog
GRPCURL      := $(BIN)/grpcurl
# grpcurl, built from its Go module at this version (specs list the gRPC
# services with it through reflection).
GRPCURL_VERSION ?= v1.9.3
PROTO_FILES  := $(wildcard messages/*.proto)
PROTOC_GEN_GO = $(shell $(GO) tool -n protoc-gen-go)
PROTOC_GEN_GO_GRPC = $(shell $(GO) tool -n protoc-gen-go-grpc)
# protoc with both generators: messages (protoc-gen-go) and the gRPC Log
# service's stubs (protoc-gen-go-grpc, for the .proto files with a service).
PROTOC_GO    = protoc --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --plugin=protoc-gen-go-grpc=$(PROTOC_GEN_GO_GRPC) \
               --go_opt=module=actorlog --go-grpc_opt=module=actorlog -I messages
# Ginkgo suites run through `go test`; -race is always on in `make test`.
TEST_FLAGS   ?= -race -count=1 -timeout 25m
# A count, not a duration: Go 1.26 can fail a duration-bounded fuzz run with a
# spurious "context deadline exceeded" (golang/go#75804).
FUZZTIME     ?= 50000x
BENCHTIME    ?= 2s
# Development certificates of `make certs` and `make run TLS=1`.
CERTS_DIR    ?= $(CURDIR)/certs-dev
# TLS=1 makes `make run` start the cluster with mutual TLS and authorisation.
TLS          ?=
# Version metadata of `actorlog --version` and of the image's OCI labels.
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT       ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS      := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Images of `make image`: actorlog:$(VERSION) (also tagged latest) and the
# local Consul image of the Compose stack.
IMAGE        ?= actorlog
CONSUL_IMAGE ?= actorlog-consul:1.14.11
# `docker compose` (plugin) where it exists, else docker-compose (v1).
COMPOSE      ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

# Leader pauses in `make faults` (short) and `make stress-pauses` (long).
FAULT_PAUSES  ?= 8
STRESS_PAUSES ?= 300

.PHONY: help setup consul grpcurl python-grpc protoc build proto proto-check vet test faults stress-pauses bench bench-grpc bench-compare fuzz run certs clean image test-docker chart-test

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: consul grpcurl python-grpc ## install what is missing (Consul v1.14.11 and grpcurl into bin/, Debian's Python gRPC)
	$(GO) mod download

grpcurl: ## build grpcurl $(GRPCURL_VERSION) into bin/grpcurl (skipped when present)
	@[ -x $(GRPCURL) ] || { echo "building grpcurl $(GRPCURL_VERSION)"; GOBIN=$(BIN) GOFLAGS= $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION); }

# The polyglot spec generates a Python client from messages/*.proto with
# Debian's protoc, its gRPC Python plugin and python3-grpcio/-protobuf, run
# by /usr/bin/python3 (Debian's, whatever python3 comes first on PATH).
python-grpc: ## install Debian's Python gRPC (python3-grpcio, protobuf-compiler-grpc) when missing
	@{ command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null && \
	   /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; } || { \
	  echo "installing Debian's Python gRPC (python3-grpcio, python3-protobuf, protobuf-compiler-grpc)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq protobuf-compiler protobuf-compiler-grpc python3 python3-grpcio python3-protobuf; }

consul: ## build Consul v1.14.11 into bin/consul (skipped when present)
	@bash scripts/build-consul.sh

protoc: ## install protoc from Debian when it is missing
	@command -v protoc >/dev/null || { \
	  echo "installing protoc (Debian protobuf-compiler)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq protobuf-compiler; }

# The network-partition specs of the fault suite put each node in a network
# namespace of its own and cut links with iptables inside it.
.PHONY: netns-tools
netns-tools: ## install ip (iproute2) and iptables from Debian when missing (the fault suite's partitions)
	@command -v ip >/dev/null && command -v iptables >/dev/null || { \
	  echo "installing iproute2 and iptables (Debian)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iproute2 iptables; }

build: ## build bin/actorlog
	$(GO) build -ldflags "$(LDFLAGS)" -o $(ACTORLOG) ./cmd/actorlog

proto: protoc ## regenerate messages/*.pb.go
	$(PROTOC_GO) --go_out=. --go-grpc_out=. $(PROTO_FILES)

proto-check: protoc ## fail when the committed .pb.go files differ from a fresh generation
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(PROTOC_GO) --go_out=$$tmp --go-grpc_out=$$tmp $(PROTO_FILES) && \
	for f in $$tmp/messages/*.pb.go; do \
	  diff -u messages/$$(basename $$f) $$f >/dev/null || { echo "messages/$$(basename $$f) is stale: run 'make proto'"; exit 1; }; \
	done; \
	for f in messages/*.pb.go; do [ -f $$tmp/$$f ] || { echo "$$f has no .proto: remove it"; exit 1; }; done; \
	echo "generated code is up to date"

vet: ## go vet and gofmt
	$(GO) vet ./...
	$(GO) vet -tags faults ./specs/
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); [ -z "$$out" ] || { echo "gofmt needed: $$out"; exit 1; }

test: setup proto-check vet build ## vet, then every test and Ginkgo suite with -race
	ACTORLOG_BIN=$(ACTORLOG) CONSUL_BIN=$(CONSUL) GRPCURL_BIN=$(GRPCURL) $(GO) test $(TEST_FLAGS) ./...

faults: netns-tools setup build ## the fault suites (build tag faults; run by .ci/run): 50 simulated power losses per sync policy, leader pauses under writes, network partitions in namespaces (3 and 5 nodes, porcupine)
	ACTORLOG_BIN=$(ACTORLOG) CONSUL_BIN=$(CONSUL) $(GO) test -race -p 1 -count=1 -timeout 60m -tags faults ./segmentstore/... ./consensus/... ./node/...
	FAULTS_PAUSES=$(FAULT_PAUSES) ACTORLOG_BIN=$(ACTORLOG) CONSUL_BIN=$(CONSUL) \
	  $(GO) test -tags faults -count=1 -timeout 40m ./specs/ -args -ginkgo.label-filter=faults

stress-pauses: setup build ## STRESS_PAUSES (300) leader pauses under writes; FAULTS_UNSAFE_FAST_PATH=1 reproduces raft's heartbeat race
	FAULTS_PAUSES=$(STRESS_PAUSES) ACTORLOG_BIN=$(ACTORLOG) CONSUL_BIN=$(CONSUL) \
	  $(GO) test -tags faults -count=1 -timeout 120m ./specs/ -args -ginkgo.label-filter=faults -ginkgo.focus='Leader pauses'

bench: ## storage and client benchmarks (go test -bench)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

fuzz: ## run each fuzz target for FUZZTIME executions (default 50000x)
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench-grpc: build ## the gRPC Log service against the actor remote, one node, alternated rounds (not part of make test)
	ACTORLOG=$(ACTORLOG) bash scripts/bench-grpc.sh

bench-compare: build ## actorlog against NATS JetStream, side by side (not part of make test)
	bash scripts/bench-compare.sh

run: build setup ## start a local 3-node cluster (and a Consul dev agent) on 127.0.0.1; TLS=1 for mutual TLS; Ctrl-C stops it
	ACTORLOG=$(ACTORLOG) CONSUL=$(CONSUL) TLS=$(TLS) CERTS_DIR=$(CERTS_DIR) bash scripts/run-cluster.sh

certs: build ## write a development CA, certificates for n1..n3, root and nobody, and policy.csv into certs-dev/ (existing ones are kept)
	$(ACTORLOG) certs --dir $(CERTS_DIR)

image: build ## build bin/actorlog and the images actorlog:VERSION (and :latest) and the local Consul image, FROM scratch with static binaries
	@command -v docker >/dev/null || { echo "make image needs a Docker engine"; exit 1; }
	@bash scripts/build-consul.sh
	@stage=$(BIN)/image; rm -rf $$stage; mkdir -p $$stage/actorlog/data $$stage/consul/data; \
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $$stage/actorlog/actorlog ./cmd/actorlog && \
	cp deploy/Dockerfile $$stage/actorlog/Dockerfile && \
	{ cp /etc/ssl/certs/ca-certificates.crt $$stage/actorlog/ 2>/dev/null || : > $$stage/actorlog/ca-certificates.crt; } && \
	consul=$(CONSUL); \
	if ! $(GO) version -m $$consul | grep -q 'CGO_ENABLED=0'; then \
	  echo "bin/consul is not static; building bin/consul-static for the image"; \
	  CONSUL_OUT=$(BIN)/consul-static bash scripts/build-consul.sh && consul=$(BIN)/consul-static; \
	fi; \
	cp $$consul $$stage/consul/consul && cp deploy/consul.Dockerfile $$stage/consul/Dockerfile && \
	docker build -q -t $(IMAGE):$(VERSION) -t $(IMAGE):latest \
	  --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
	  --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) $$stage/actorlog && \
	docker build -q -t $(CONSUL_IMAGE) $$stage/consul && \
	docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^($(IMAGE):$(VERSION)|$(CONSUL_IMAGE)) '

test-docker: image build ## the Compose cluster for real: kill, pause, disconnect and restart nodes with clients on this host
	cd deploy && ACTORLOG_BIN=$(ACTORLOG) ACTORLOG_IMAGE=$(IMAGE):$(VERSION) CONSUL_IMAGE=$(CONSUL_IMAGE) \
	  COMPOSE="$(COMPOSE)" $(GO) test -count=1 -timeout 30m -v ./dockerspecs/

chart-test: build ## render the Helm chart with Helm's Go library and check every manifest against the Kubernetes API types
	cd deploy && $(GO) vet ./... && ACTORLOG_BIN=$(ACTORLOG) $(GO) test -count=1 ./helm/...

clean: ## remove build output (keeps bin/consul, which is slow to build)
	rm -f $(ACTORLOG)
	rm -rf $(BIN)/image
