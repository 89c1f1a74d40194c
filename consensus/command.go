package consensus

import (
	"unicode/utf8"

	"actorlog/messages"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Field numbers of the messages decodeCommand reads by hand; they must
// match messages/internal.proto and messages/actorlog.proto.
const (
	fieldCommandProduce   = 1 // RaftCommand.produce
	fieldCommandTimestamp = 3 // RaftCommand.timestamp_unix_nano
	fieldProduceRecords   = 1 // ProduceRequest.records
	fieldProduceProducer  = 2 // ProduceRequest.producer_id
	fieldProduceSequence  = 3 // ProduceRequest.sequence
	fieldRecordOffset     = 1 // Record.offset
	fieldRecordValue      = 2 // Record.value
	fieldRecordTimestamp  = 3 // Record.timestamp_unix_nano
	fieldRecordRaftIndex  = 4 // Record.raft_index
)

// decodeCommand decodes a raft entry's command. A produce command in the
// form the raft actor writes is decoded by hand so that record values
// alias data instead of being copied, and all records of the entry come
// from one allocation: proto.Unmarshal copies every value and allocates
// every record on its own, which on every replica was one more copy of
// each record and most of the FSM's garbage. Any other command, and any
// produce with fields or encodings the hand decoder does not expect (a
// trace context, unknown fields, repeated singular fields), goes to
// proto.Unmarshal, so the result is always what proto.Unmarshal gives.
//
// The caller must not modify data while the command is in use: raft hands
// the FSM entries whose Data nobody writes to again (a fresh buffer from
// the transport, the log store or the leader's own encoding).
func decodeCommand(data []byte) (*messages.RaftCommand, error) {
	if cmd, ok := decodeProduceCommand(data); ok {
		return cmd, nil
	}
	cmd := &messages.RaftCommand{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// decodeProduceCommand is decodeCommand's fast path; ok is false when it
// cannot decode data exactly as proto.Unmarshal would.
func decodeProduceCommand(data []byte) (_ *messages.RaftCommand, ok bool) {
	var (
		produce    []byte
		hasProduce bool
		ts         int64
	)
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case num == fieldCommandProduce && typ == protowire.BytesType && !hasProduce:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			produce, hasProduce, b = v, true, b[n:]
		case num == fieldCommandTimestamp && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			ts, b = int64(v), b[n:]
		default:
			return nil, false
		}
	}
	if !hasProduce {
		return nil, false
	}
	req, ok := decodeProduceRequest(produce)
	if !ok {
		return nil, false
	}
	return &messages.RaftCommand{
		Command:           &messages.RaftCommand_Produce{Produce: req},
		TimestampUnixNano: ts,
	}, true
}

// decodeProduceRequest decodes a ProduceRequest whose record values alias
// b. It counts the records first so that they share one slab.
func decodeProduceRequest(b []byte) (*messages.ProduceRequest, bool) {
	count := 0
	for p := b; len(p) > 0; {
		num, typ, n := protowire.ConsumeTag(p)
		if n < 0 {
			return nil, false
		}
		p = p[n:]
		if num == fieldProduceRecords && typ == protowire.BytesType {
			count++
		}
		n = protowire.ConsumeFieldValue(num, typ, p)
		if n < 0 {
			return nil, false
		}
		p = p[n:]
	}
	req := &messages.ProduceRequest{}
	slab := make([]messages.Record, count)
	req.Records = make([]*messages.Record, 0, count)
	seenProducer, seenSeq := false, false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		switch {
		case num == fieldProduceRecords && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			r := &slab[len(req.Records)]
			if !decodeRecord(v, r) {
				return nil, false
			}
			req.Records = append(req.Records, r)
		case num == fieldProduceProducer && typ == protowire.BytesType && !seenProducer:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || !utf8.Valid(v) {
				return nil, false
			}
			req.ProducerId, seenProducer, b = string(v), true, b[n:]
		case num == fieldProduceSequence && typ == protowire.VarintType && !seenSeq:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			req.Sequence, seenSeq, b = v, true, b[n:]
		default:
			return nil, false
		}
	}
	return req, true
}

// decodeRecord decodes one Record into r, its value aliasing b. A field
// seen twice (which proto.Unmarshal resolves by taking the last) sends the
// whole command to proto.Unmarshal.
func decodeRecord(b []byte, r *messages.Record) bool {
	var seen [fieldRecordRaftIndex + 1]bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num < fieldRecordOffset || num > fieldRecordRaftIndex || seen[num] {
			return false
		}
		seen[num] = true
		b = b[n:]
		if num == fieldRecordValue {
			if typ != protowire.BytesType {
				return false
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			if len(v) > 0 {
				// proto.Unmarshal leaves an empty value nil; so does this.
				r.Value = v[:len(v):len(v)]
			}
			b = b[n:]
			continue
		}
		if typ != protowire.VarintType {
			return false
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case fieldRecordOffset:
			r.Offset = v
		case fieldRecordTimestamp:
			r.TimestampUnixNano = int64(v)
		case fieldRecordRaftIndex:
			r.RaftIndex = v
		}
	}
	return true
}
