package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchProfilesWriteWhatPprofAndTraceRead checks that the three files
// are written when the run ends, in the formats go tool pprof (gzipped
// protobuf) and go tool trace read.
func TestBenchProfilesWriteWhatPprofAndTraceRead(t *testing.T) {
	dir := t.TempDir()
	p := benchProfiles{
		cpu:   filepath.Join(dir, "cpu.pb"),
		mem:   filepath.Join(dir, "mem.pb"),
		trace: filepath.Join(dir, "trace.out"),
	}
	stop, err := p.start()
	if err != nil {
		t.Fatal(err)
	}
	var sink []string
	for i := range 10_000 {
		sink = append(sink, strings.Repeat("x", i%64))
	}
	_ = sink
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	gzipMagic := []byte{0x1f, 0x8b}
	for path, magic := range map[string][]byte{p.cpu: gzipMagic, p.mem: gzipMagic, p.trace: []byte("go 1.")} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, magic) {
			t.Errorf("%s starts with %q, want %q", filepath.Base(path), b[:min(len(b), 8)], magic)
		}
	}
}

func TestBenchProfilesRefuseAnUnwritablePath(t *testing.T) {
	p := benchProfiles{cpu: filepath.Join(t.TempDir(), "missing", "cpu.pb")}
	if _, err := p.start(); err == nil {
		t.Fatal("started a CPU profile into a directory that does not exist")
	}
}
