#!/usr/bin/env bash
# Builds Consul v1.14.11 (MPL-2.0) from the Go module proxy into bin/consul.
# Consul is not packaged by Debian and releases after 1.16 are not open
# source, so the project builds the last MPL release itself. The first build
# takes 5-10 minutes on 2 cores; afterwards the Go build cache makes it fast,
# and the script does nothing at all when bin/consul already has the version.
#
# The binary is static (CGO_ENABLED=0, as HashiCorp builds its releases), so
# that the same file runs on this machine and in the image `make image`
# builds FROM scratch. CONSUL_OUT writes it elsewhere (`make image` uses
# bin/consul-static when an older bin/consul is not static).
set -euo pipefail

version=v1.14.11
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${CONSUL_OUT:-$repo/bin/consul}

# (No `| head | grep -q` here or below: under pipefail, a reader that stops
# early kills the writer with SIGPIPE and fails the pipeline.)
if [ -x "$out" ] && [[ "$("$out" version 2>/dev/null)" == "Consul ${version}"* ]]; then
  echo "$out is already Consul ${version}"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module consulbuild

go 1.22

require github.com/hashicorp/consul ${version}

replace launchpad.net/gocheck => github.com/go-check/check v0.0.0-20140225173054-eb6ee6f84d0a
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/hashicorp/consul"
GO
echo "building Consul ${version} into $out (5-10 minutes the first time)..."
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
mkdir -p "$(dirname "$out")"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$out.tmp" github.com/hashicorp/consul
mv "$out.tmp" "$out"
"$out" version | awk 'NR == 1'
