package consultest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BinaryEnv names the environment variable that `make test` sets to the
// absolute path of bin/consul.
const BinaryEnv = "CONSUL_BIN"

// FindBinary returns the Consul binary to run: $CONSUL_BIN when set,
// otherwise bin/consul at the root of the module containing the working
// directory (go test runs each package in its own directory, so this finds
// the repository's bin/ from any package). It fails with ErrBinaryNotFound
// and a message saying how to build the binary.
func FindBinary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %w; run `make consul` to build Consul v1.14.11 into bin/consul", ErrBinaryNotFound, BinaryEnv, p, err)
		}
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBinaryNotFound, err)
	}
	var looked []string
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "bin", "consul")
			if checkExecutable(p) == nil {
				return p, nil
			}
			looked = append(looked, p)
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if len(looked) == 0 {
		looked = append(looked, "no go.mod above "+wd)
	}
	return "", fmt.Errorf("%w (looked at %s; %s is not set): run `make consul` to build Consul v1.14.11 into bin/consul",
		ErrBinaryNotFound, strings.Join(looked, ", "), BinaryEnv)
}
