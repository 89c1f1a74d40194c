package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are set at link time by `make build` and `make image`:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=<sha>" ./cmd/actorlog
//
// A plain `go build` leaves them empty; the commit then comes from the VCS
// stamp Go embeds in the binary, when it built from a checkout.
var (
	version string
	commit  string
)

// versionString is what `actorlog --version` prints.
func versionString() string {
	v, c := version, commit
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = vcsRevision()
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("actorlog %s (commit %s, %s, %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// vcsRevision is the commit Go stamped into the binary (with "-dirty" when
// the tree had changes), or "".
func vcsRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
