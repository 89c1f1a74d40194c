package consensus

import (
	"bytes"
	"testing"
	"unsafe"

	"actorlog/messages"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func marshalCommand(t testing.TB, cmd *messages.RaftCommand) []byte {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// within reports whether v lies inside buf's memory.
func within(v, buf []byte) bool {
	if len(v) == 0 || len(buf) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	return p >= start && p+uintptr(len(v)) <= start+uintptr(len(buf))
}

// TestDecodeCommandProduce: a produce entry as the raft actor writes it
// decodes to what proto.Unmarshal gives, with its values read in place.
func TestDecodeCommandProduce(t *testing.T) {
	in := &messages.RaftCommand{
		Command: &messages.RaftCommand_Produce{Produce: &messages.ProduceRequest{
			Records: []*messages.Record{
				{Value: bytes.Repeat([]byte("a"), 1024)},
				{Value: nil},
				{Value: []byte("b"), Offset: 7, TimestampUnixNano: -5, RaftIndex: 9},
			},
			ProducerId: "p-1",
			Sequence:   42,
		}},
		TimestampUnixNano: 1_700_000_000_000_000_000,
	}
	data := marshalCommand(t, in)
	got, ok := decodeProduceCommand(data)
	if !ok {
		t.Fatal("the fast path refused a produce entry of the raft actor's form")
	}
	if !proto.Equal(got, in) {
		t.Fatalf("decoded %v, want %v", got, in)
	}
	for i, r := range got.GetProduce().GetRecords() {
		if len(r.GetValue()) > 0 && !within(r.GetValue(), data) {
			t.Errorf("record %d: value was copied, not read in place", i)
		}
	}
	if c := cap(got.GetProduce().GetRecords()[0].GetValue()); c != 1024 {
		t.Errorf("record 0: value capacity %d reaches past the value into the entry", c)
	}
}

// TestDecodeCommandFallback: commands the fast path does not take still
// decode exactly as proto.Unmarshal decodes them.
func TestDecodeCommandFallback(t *testing.T) {
	produce := &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("v")}}}
	traced := &messages.RaftCommand{
		Command:           &messages.RaftCommand_Produce{Produce: produce},
		TimestampUnixNano: 3,
		Trace:             map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}
	member := &messages.RaftCommand{Command: &messages.RaftCommand_Member{Member: &messages.Member{Id: "n1", RaftAddress: "127.0.0.1:1"}}}
	// A record whose value field appears twice: the last one wins.
	rec := protowire.AppendTag(nil, fieldRecordValue, protowire.BytesType)
	rec = protowire.AppendBytes(rec, []byte("first"))
	rec = protowire.AppendTag(rec, fieldRecordValue, protowire.BytesType)
	rec = protowire.AppendBytes(rec, []byte("last"))
	req := protowire.AppendTag(nil, fieldProduceRecords, protowire.BytesType)
	req = protowire.AppendBytes(req, rec)
	twice := protowire.AppendTag(nil, fieldCommandProduce, protowire.BytesType)
	twice = protowire.AppendBytes(twice, req)

	for name, data := range map[string][]byte{
		"traced produce": marshalCommand(t, traced),
		"member":         marshalCommand(t, member),
		"repeated value": twice,
	} {
		if _, ok := decodeProduceCommand(data); ok {
			t.Errorf("%s: the fast path took a command it must leave to proto.Unmarshal", name)
		}
		got, err := decodeCommand(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := &messages.RaftCommand{}
		if err := proto.Unmarshal(data, want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: decoded %v, want %v", name, got, want)
		}
	}
	if got, _ := decodeCommand(twice); string(got.GetProduce().GetRecords()[0].GetValue()) != "last" {
		t.Errorf("repeated value: got %q, want the last one", got.GetProduce().GetRecords()[0].GetValue())
	}
	if _, err := decodeCommand([]byte{0x0a, 0x05, 0x01}); err == nil {
		t.Error("a truncated entry decoded without an error")
	}
}

// FuzzDecodeCommand: whatever the fast path accepts, proto.Unmarshal
// accepts too and decodes to an equal command.
func FuzzDecodeCommand(f *testing.F) {
	f.Add(marshalCommand(f, &messages.RaftCommand{
		Command: &messages.RaftCommand_Produce{Produce: &messages.ProduceRequest{
			Records:    []*messages.Record{{Value: []byte("x")}, {Value: []byte("yz"), RaftIndex: 3}},
			ProducerId: "p",
			Sequence:   1,
		}},
		TimestampUnixNano: 99,
	}))
	f.Add(marshalCommand(f, &messages.RaftCommand{Command: &messages.RaftCommand_Member{Member: &messages.Member{Id: "n2"}}}))
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0x0a, 0x03, 0x12, 0x02, 0xc3})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := decodeProduceCommand(data)
		if !ok {
			return
		}
		want := &messages.RaftCommand{}
		if err := proto.Unmarshal(data, want); err != nil {
			t.Fatalf("the fast path accepted what proto.Unmarshal refuses (%v)", err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("decoded %v, proto.Unmarshal gives %v", got, want)
		}
	})
}
