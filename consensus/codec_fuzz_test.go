package consensus

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// FuzzEntryCodec checks that every raft entry survives encoding, and that
// decoding arbitrary bytes either fails with ErrCorrupt or yields an entry,
// never a panic.
func FuzzEntryCodec(f *testing.F) {
	f.Add(uint64(1), uint64(1), uint8(raft.LogCommand), []byte("data"), []byte(nil), int64(0))
	f.Add(uint64(1<<40), uint64(7), uint8(raft.LogConfiguration), []byte{}, []byte("ext"), time.Now().UnixNano())
	f.Add(uint64(0), uint64(0), uint8(255), []byte(nil), []byte{0}, int64(-1))
	f.Fuzz(func(t *testing.T, index, term uint64, typ uint8, data, ext []byte, ts int64) {
		in := &raft.Log{Index: index, Term: term, Type: raft.LogType(typ), Data: data, Extensions: ext}
		if ts != 0 {
			in.AppendedAt = time.Unix(0, ts)
		}
		value := encodeEntryValue(nil, in)
		var out raft.Log
		if err := decodeEntryValue(index, term, entryTimestamp(in), value, &out); err != nil {
			t.Fatalf("decode of an encoded entry: %v", err)
		}
		if out.Index != in.Index || out.Term != in.Term || out.Type != in.Type ||
			!bytes.Equal(out.Data, in.Data) || !bytes.Equal(out.Extensions, in.Extensions) ||
			!out.AppendedAt.Equal(in.AppendedAt) {
			t.Fatalf("round trip changed the entry: %+v -> %+v", in, out)
		}

		// The fuzzer's data doubles as an arbitrary stored value.
		if err := decodeEntryValue(index, term, ts, data, &out); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode of garbage: %v is not ErrCorrupt", err)
		}
	})
}
