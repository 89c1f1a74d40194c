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
PROTO_FILES  := $(wildcard messages/*.proto)
PROTOC_GEN_GO = $(shell $(GO) tool -n protoc-gen-go)
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

.PHONY: help setup consul protoc build proto proto-check vet test faults bench bench-compare fuzz run certs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: consul ## install what is missing (Consul v1.14.11 into bin/)
	$(GO) mod download

consul: ## build Consul v1.14.11 into bin/consul (skipped when present)
	@bash scripts/build-consul.sh

protoc: ## install protoc from Debian when it is missing
	@command -v protoc >/dev/null || { \
	  echo "installing protoc (Debian protobuf-compiler)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq protobuf-compiler; }

build: ## build bin/actorlog
	$(GO) build -o $(ACTORLOG) ./cmd/actorlog

proto: protoc ## regenerate messages/*.pb.go
	protoc --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --go_out=. --go_opt=module=actorlog -I messages $(PROTO_FILES)

proto-check: protoc ## fail when the committed .pb.go files differ from a fresh generation
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	protoc --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --go_out=$$tmp --go_opt=module=actorlog -I messages $(PROTO_FILES) && \
	for f in $$tmp/messages/*.pb.go; do \
	  diff -u messages/$$(basename $$f) $$f >/dev/null || { echo "messages/$$(basename $$f) is stale: run 'make proto'"; exit 1; }; \
	done; \
	for f in messages/*.pb.go; do [ -f $$tmp/$$f ] || { echo "$$f has no .proto: remove it"; exit 1; }; done; \
	echo "generated code is up to date"

vet: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); [ -z "$$out" ] || { echo "gofmt needed: $$out"; exit 1; }

test: setup proto-check vet build ## vet, then every test and Ginkgo suite with -race
	ACTORLOG_BIN=$(ACTORLOG) CONSUL_BIN=$(CONSUL) $(GO) test $(TEST_FLAGS) ./...

faults: setup build ## the fault suites at full length (build tag faults): 50 simulated power losses per sync policy, and more
	ACTORLOG_BIN=$(ACTORLOG) CONSUL_BIN=$(CONSUL) $(GO) test -race -count=1 -timeout 60m -tags faults ./...

bench: ## storage and client benchmarks (go test -bench)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

fuzz: ## run each fuzz target for FUZZTIME executions (default 50000x)
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench-compare: build ## actorlog against NATS JetStream, side by side (not part of make test)
	bash scripts/bench-compare.sh

run: build setup ## start a local 3-node cluster (and a Consul dev agent) on 127.0.0.1; TLS=1 for mutual TLS; Ctrl-C stops it
	ACTORLOG=$(ACTORLOG) CONSUL=$(CONSUL) TLS=$(TLS) CERTS_DIR=$(CERTS_DIR) bash scripts/run-cluster.sh

certs: build ## write a development CA, certificates for n1..n3, root and nobody, and policy.csv into certs-dev/ (existing ones are kept)
	$(ACTORLOG) certs --dir $(CERTS_DIR)

clean: ## remove build output (keeps bin/consul, which is slow to build)
	rm -f $(ACTORLOG)
