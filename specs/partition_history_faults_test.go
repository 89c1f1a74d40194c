//go:build faults

package specs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The history the clients of the network-partition fault suite
// (partition_faults_test.go) record, and the operations they send over HTTP.

// ---------------------------------------------------------------------------
// The history

type opStatus int

const (
	opOK      opStatus = iota // acknowledged (append) or answered (read)
	opRefused                 // an append refused for sure: it never takes effect
	opUnknown                 // an append with no clear answer: it may take effect
	opFailed                  // a read that got no answer
)

func (s opStatus) String() string {
	return [...]string{"ok", "refused", "unknown", "failed"}[s]
}

// partOp is one operation of the history.
type partOp struct {
	client    int
	node      string
	append    bool
	value     string // append
	offset    uint64 // read: from
	call, ret int64  // ns since the history began
	status    opStatus
	ackOffset uint64   // acknowledged append
	records   []string // read
	end       uint64   // read: end_offset, or next_offset when out of range
	oor       bool
	code, msg string // the error, when there was one
	bad       string // what is wrong with an answer the model cannot take
}

func (op *partOp) latency() time.Duration { return time.Duration(op.ret - op.call) }

func (op *partOp) String() string {
	t := fmt.Sprintf("[%9.3fs %6.0fms] c%-2d %-3s", float64(op.call)/1e9, float64(op.ret-op.call)/1e6, op.client, op.node)
	what := ""
	switch {
	case op.append && op.status == opOK:
		what = fmt.Sprintf("append %s -> ok offset %d", op.value, op.ackOffset)
	case op.append:
		what = fmt.Sprintf("append %s -> %s %s: %s", op.value, op.status, op.code, op.msg)
	case op.status != opOK:
		what = fmt.Sprintf("read %d -> %s %s: %s", op.offset, op.status, op.code, op.msg)
	case op.oor:
		what = fmt.Sprintf("read %d -> out of range, next %d", op.offset, op.end)
	default:
		what = fmt.Sprintf("read %d -> %v end %d", op.offset, op.records, op.end)
	}
	return t + " " + what
}

// cutWindow is a time during which the nodes of minority were cut off from
// the majority: from after the rules were in place until before they were
// removed.
type cutWindow struct {
	what     string
	minority map[string]bool
	from, to int64
}

type partHistory struct {
	start   time.Time
	mu      sync.Mutex
	ops     []*partOp
	windows []*cutWindow
	known   atomic.Uint64 // the highest end of the log seen, for the readers' offsets
	seq     atomic.Uint64
}

func (h *partHistory) now() int64 { return int64(time.Since(h.start)) }

func (h *partHistory) add(op *partOp) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
	if op.status == opOK {
		end := op.end
		if op.append {
			end = op.ackOffset + 1
		}
		for k := h.known.Load(); end > k && !h.known.CompareAndSwap(k, end); k = h.known.Load() {
		}
	}
}

func (h *partHistory) snapshot() []*partOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// ackedSince counts appends acknowledged through the given nodes that were
// sent after t.
func (h *partHistory) ackedSince(t int64, nodes []*labNode) int {
	ids := map[string]bool{}
	for _, nd := range nodes {
		ids[nd.id] = true
	}
	n := 0
	for _, op := range h.snapshot() {
		if op.append && op.status == opOK && op.call > t && ids[op.node] {
			n++
		}
	}
	return n
}

func (h *partHistory) dump(w io.Writer) {
	ops := h.snapshot()
	slices.SortFunc(ops, func(a, b *partOp) int { return int(a.call - b.call) })
	h.mu.Lock()
	for _, cw := range h.windows {
		fmt.Fprintf(w, "cut %s: minority %v from %.3fs to %.3fs\n", cw.what, mapKeys(cw.minority), float64(cw.from)/1e9, float64(cw.to)/1e9)
	}
	h.mu.Unlock()
	for _, op := range ops {
		fmt.Fprintln(w, op)
	}
}

func mapKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------------------
// Operations over HTTP

type apiErrorBody struct {
	Error struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Next    *uint64 `json:"next_offset"`
	} `json:"error"`
}

// definiteRefusal reports whether an error answer to an append means that
// the append never takes effect: the node did not hand it to raft.
func definiteRefusal(code, msg string) bool {
	switch code {
	case "not_leader", "invalid_request", "payload_too_large":
		return true
	case "unavailable":
		return strings.HasPrefix(msg, "no raft leader is known") || strings.HasPrefix(msg, "the address of raft leader")
	}
	return false
}

// neverSent reports whether a transport error means the request never left
// the test process (the connection was refused or could not be made).
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (h *partHistory) appendOp(hc *http.Client, client int, nd *clusterNode, value string) *partOp {
	op := &partOp{client: client, node: nd.id, append: true, value: value}
	body, _ := json.Marshal(map[string]any{"records": []map[string]any{{"value": []byte(value)}}})
	op.call = h.now()
	resp, err := hc.Post("http://"+nd.httpAddr+"/v1/records", "application/json", bytes.NewReader(body))
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	op.ret = h.now()
	switch {
	case err != nil && neverSent(err):
		op.status, op.msg = opRefused, err.Error()
	case err != nil:
		op.status, op.msg = opUnknown, err.Error()
	case resp.StatusCode == http.StatusOK:
		var out struct {
			Offsets []uint64 `json:"offsets"`
		}
		if json.Unmarshal(raw, &out) != nil || len(out.Offsets) != 1 {
			op.status, op.msg = opUnknown, fmt.Sprintf("200 with a bad body: %q", raw)
		} else {
			op.status, op.ackOffset = opOK, out.Offsets[0]
		}
	default:
		var e apiErrorBody
		_ = json.Unmarshal(raw, &e)
		op.code, op.msg = e.Error.Code, e.Error.Message
		if op.code == "" {
			op.msg = fmt.Sprintf("%s with an untyped body: %q", resp.Status, raw)
		}
		op.status = opUnknown
		if definiteRefusal(op.code, op.msg) {
			op.status = opRefused
		}
	}
	h.add(op)
	return op
}

func (h *partHistory) readOp(hc *http.Client, client int, nd *clusterNode, offset uint64, max int) *partOp {
	op := &partOp{client: client, node: nd.id, offset: offset}
	url := fmt.Sprintf("http://%s/v1/records?offset=%d&max=%d&consistent=true", nd.httpAddr, offset, max)
	op.call = h.now()
	resp, err := hc.Get(url)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	op.ret = h.now()
	op.status = opFailed
	switch {
	case err != nil:
		op.msg = err.Error()
	case resp.StatusCode == http.StatusOK:
		var page struct {
			Records []struct {
				Offset uint64 `json:"offset"`
				Value  []byte `json:"value"`
			} `json:"records"`
			EndOffset uint64 `json:"end_offset"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			op.msg = fmt.Sprintf("200 with a bad body: %q", raw)
			break
		}
		op.status, op.end = opOK, page.EndOffset
		for i, rec := range page.Records {
			if rec.Offset != offset+uint64(i) {
				// Not dense: the model cannot take it, so the spec fails on it.
				op.bad = fmt.Sprintf("record %d of the answer has offset %d", i, rec.Offset)
			}
			op.records = append(op.records, string(rec.Value))
		}
	default:
		var e apiErrorBody
		_ = json.Unmarshal(raw, &e)
		op.code, op.msg = e.Error.Code, e.Error.Message
		if op.code == "" {
			op.msg = fmt.Sprintf("%s with an untyped body: %q", resp.Status, raw)
		}
		if op.code == "offset_out_of_range" && e.Error.Next != nil {
			op.status, op.oor, op.end = opOK, true, *e.Error.Next
		}
	}
	h.add(op)
	return op
}
