package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCerts(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newCertsCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCertsKeepsFilesOfItsCAAndRefusesOrphans(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCerts(t, "--dir", dir, "--nodes", "1"); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	out, err := runCerts(t, "--dir", dir, "--nodes", "1")
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "kept "+filepath.Join(dir, "n1.pem")) {
		t.Fatalf("second run did not keep n1.pem:\n%s", out)
	}

	// Without the CA, the certificates left behind were signed by a CA
	// that is gone: issuing a new CA beside them would mix the two.
	for _, f := range []string{"ca.pem", "ca-key.pem"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	out, err = runCerts(t, "--dir", dir, "--nodes", "1")
	if err == nil || !strings.Contains(err.Error(), "was not signed by the CA") {
		t.Fatalf("want a refusal naming the orphaned certificate, got %v\n%s", err, out)
	}
	if out, err := runCerts(t, "--dir", dir, "--nodes", "1", "--force"); err != nil {
		t.Fatalf("--force: %v\n%s", err, out)
	}
}
