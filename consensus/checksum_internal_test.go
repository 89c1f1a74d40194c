package consensus

import (
	"testing"

	"actorlog/messages"
)

// BenchmarkChecksumRecord is the checker's cost per 1 KiB record, what the
// running checksum adds to applying a produce on every replica:
//
//	go test -run '^$' -bench ChecksumRecord ./consensus/
func BenchmarkChecksumRecord(b *testing.B) {
	var c checker
	c.init()
	r := &messages.Record{Value: make([]byte, 1024)}
	b.SetBytes(1024)
	b.ReportAllocs()
	off := uint64(0)
	for b.Loop() {
		c.addLocked(r, off, 1)
		off++
	}
}
