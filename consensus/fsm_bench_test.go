package consensus_test

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"actorlog/consensus"
	"actorlog/messages"
)

// countingLog is a consensus.Log that keeps nothing, so that
// BenchmarkFSMApplyBatch measures the FSM's own work per entry: decoding
// the command, deduplication and building the log's records.
type countingLog struct{ next uint64 }

func (l *countingLog) Append(recs []*messages.Record) (uint64, error) {
	first := l.next
	l.next += uint64(len(recs))
	return first, nil
}
func (l *countingLog) Bounds() (uint64, uint64, error)              { return 0, l.next, nil }
func (l *countingLog) Read(uint64, int) ([]*messages.Record, error) { return nil, nil }
func (l *countingLog) Sync() error                                  { return nil }
func (l *countingLog) Reset(base uint64) error                      { l.next = base; return nil }

// BenchmarkFSMApplyBatch applies batches of 8 produce entries of 100
// records of 1 KiB, the shape of `actorlog bench produce --batch 100
// --inflight 8`:
//
//	go test -run '^$' -bench FSMApplyBatch -benchmem ./consensus/
func BenchmarkFSMApplyBatch(b *testing.B) {
	fsm, err := consensus.NewFSM(consensus.FSMConfig{Log: &countingLog{}, StatePath: filepath.Join(b.TempDir(), consensus.StateFileName)})
	if err != nil {
		b.Fatal(err)
	}
	defer fsm.Close()
	req := &messages.ProduceRequest{ProducerId: "bench"}
	for range 100 {
		req.Records = append(req.Records, &messages.Record{Value: make([]byte, 1024)})
	}
	const entries = 8
	index := uint64(0)
	b.SetBytes(entries * 100 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		logs := make([]*raft.Log, entries)
		for i := range logs {
			index++
			req.Sequence = index
			data, err := proto.Marshal(&messages.RaftCommand{Command: &messages.RaftCommand_Produce{Produce: req}, TimestampUnixNano: 1})
			if err != nil {
				b.Fatal(err)
			}
			logs[i] = &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
		}
		for i, r := range fsm.ApplyBatch(logs) {
			if res, ok := r.(*consensus.ProduceResult); !ok || res.Err != nil || res.Count != 100 {
				b.Fatalf("entry %d: %v", i, r)
			}
		}
	}
}
