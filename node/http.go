package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"actorlog/actors"
	"actorlog/messages"
	"github.com/sirupsen/logrus"
)

// httpAPI serves the HTTP JSON API through the same actors as remote
// clients: records go through a session (validation, the produce target)
// exactly like a client's, so both paths behave the same.
//
//	POST /v1/records   {"records":[{"value":"<base64>"}], "producer_id":"", "sequence":0}
//	                   -> {"offsets":[...]}
//	GET  /v1/records?offset=N&max=M&max_bytes=B&wait=5s
//	                   -> {"records":[{"offset":N,"value":"<base64>","timestamp":"RFC3339Nano"}],
//	                       "next_offset":N, "low_offset":L, "end_offset":E}
//	GET  /v1/records?consistent=true   the same, served by the leader after a raft barrier
//	GET  /v1/status    -> {"id","state","leader_id","term","commit_index","applied_index","low_offset","next_offset","consul","produce_requests","consume_requests"}
//	GET  /v1/servers   -> [{"id","actor_address","raft_address","http_address","grpc_address","is_leader"}]
//	POST /v1/leave?timeout=30s
//	                   -> {"node","removed","leader","voters":[...]}: the node left the raft
//	                      configuration and Consul for good, and stops (node/leave.go); 409
//	                      last_voter / no_quorum / leave_in_progress, 503 no_leader
//	GET  /healthz      -> 200 {"status":"ok"} or 503 {"status":"unhealthy","reason":"..."}
//	GET  /readyz       -> 200 {"status":"ready"} once the node is in a raft cluster that has a
//	                      leader and its log serves, else 503 {"status":"not_ready","reason":"..."}
//	GET  /metrics      -> Prometheus text exposition of the node's registry
//	POST /debug/fault/segment-crash?mode=now|after-append   (only with FaultInjection)
//	POST /debug/fault/diverge?offset=N                      (only with FaultInjection)
//
// next_offset is where to read next (one past the last record returned);
// end_offset is the log's next offset to be written. Every error is a JSON
// body {"error":{"code":"...","message":"..."}} with a 4xx status for bad
// input and 503/504 when the node cannot answer in time; never a 500 for
// anything a client sent.
type httpAPI struct {
	n *Node
	// The actors it asks, through handles that hide their messages.
	log  *actors.LogHandle
	raft *actors.RaftHandle

	mu   sync.Mutex
	sess *actors.SessionHandle
}

// Error codes of the HTTP API.
const (
	codeInvalidRequest   = "invalid_request"
	codeTooLarge         = "payload_too_large"
	codeOutOfRange       = "offset_out_of_range"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeUnavailable      = "unavailable"
	codeTimeout          = "timeout"
	codeNotLeader        = "not_leader"
	codeNoLeader         = "no_leader"
	codeLastVoter        = "last_voter"
	codeNoQuorum         = "no_quorum"
	codeLeaving          = "leave_in_progress"
	codeUnauthorized     = "unauthorized"
	// codeCertificateRequired: a TLS node got a request without a client
	// certificate on an endpoint that needs an identity.
	codeCertificateRequired = "certificate_required"
)

func newHTTPAPI(n *Node) *httpAPI {
	return &httpAPI{n: n,
		log:  actors.NewLogHandle(n.sys.Root, n.logPID, n.cfg.RequestTimeout),
		raft: actors.NewRaftHandle(n.sys.Root, n.rp.pid, n.raft, n.cfg.RequestTimeout)}
}

func (h *httpAPI) openSession() error {
	sess, err := actors.OpenSession(h.n.sys.Root, h.n.sessions, "http", h.n.cfg.RequestTimeout)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.sess = sess
	h.mu.Unlock()
	return nil
}

func (h *httpAPI) closeSession() {
	h.mu.Lock()
	sess := h.sess
	h.mu.Unlock()
	if sess != nil {
		sess.Close()
	}
}

// session is the HTTP session; nil before it opened.
func (h *httpAPI) session() *actors.SessionHandle {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sess
}

type apiError struct {
	Code       string  `json:"code"`
	Message    string  `json:"message"`
	Field      string  `json:"field,omitempty"`
	LowOffset  *uint64 `json:"low_offset,omitempty"`
	NextOffset *uint64 `json:"next_offset,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	writeJSON(w, status, map[string]apiError{"error": e})
}

func (h *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorize(w, r) {
		return
	}
	switch r.URL.Path {
	case "/v1/records":
		switch r.Method {
		case http.MethodPost:
			start := time.Now()
			h.produce(w, r)
			h.n.metrics.produceSeconds.Observe(time.Since(start).Seconds())
		case http.MethodGet:
			start := time.Now()
			h.consume(w, r)
			h.n.metrics.consumeSeconds.Observe(time.Since(start).Seconds())
		default:
			h.methodNotAllowed(w, "GET, POST")
		}
	case "/v1/status":
		if r.Method != http.MethodGet {
			h.methodNotAllowed(w, "GET")
			return
		}
		h.status(w, r)
	case "/v1/servers":
		if r.Method != http.MethodGet {
			h.methodNotAllowed(w, "GET")
			return
		}
		h.servers(w, r)
	case "/v1/leave":
		if r.Method != http.MethodPost {
			h.methodNotAllowed(w, "POST")
			return
		}
		h.leave(w, r)
	case "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.methodNotAllowed(w, "GET, HEAD")
			return
		}
		h.health(w)
	case "/readyz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.methodNotAllowed(w, "GET, HEAD")
			return
		}
		h.ready(w)
	case "/metrics":
		h.n.metrics.handler.ServeHTTP(w, r)
	case "/debug/fault/segment-crash", "/debug/fault/diverge":
		// Fault injection exists only when the node was started with it.
		if !h.n.cfg.FaultInjection {
			writeError(w, http.StatusNotFound, apiError{Code: codeNotFound, Message: "no such endpoint"})
			return
		}
		if r.Method != http.MethodPost {
			h.methodNotAllowed(w, "POST")
			return
		}
		if r.URL.Path == "/debug/fault/diverge" {
			h.diverge(w, r)
		} else {
			h.fault(w, r)
		}
	default:
		writeError(w, http.StatusNotFound, apiError{Code: codeNotFound, Message: "no such endpoint: " + r.URL.Path})
	}
}

func (h *httpAPI) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, apiError{Code: codeMethodNotAllowed, Message: "allowed methods: " + allow})
}

type produceBody struct {
	// Pointers tell a null record and a record without "value" (both
	// refused) from an empty value (a record of zero bytes).
	Records []*struct {
		Value *[]byte `json:"value"`
	} `json:"records"`
	ProducerID string `json:"producer_id"`
	Sequence   uint64 `json:"sequence"`
}

// bodyLimit is the largest produce body accepted: a full batch in base64
// plus generous room for JSON syntax.
func (h *httpAPI) bodyLimit() int64 {
	return int64(base64.StdEncoding.EncodedLen(int(h.n.cfg.MaxBatchBytes))) + 4<<20
}

func (h *httpAPI) produce(w http.ResponseWriter, r *http.Request) {
	limit := h.bodyLimit()
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	var body produceBody
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: codeTooLarge,
				Message: fmt.Sprintf("request body exceeds %d bytes (max_batch_bytes is %d)", limit, h.n.cfg.MaxBatchBytes)})
			return
		}
		writeError(w, http.StatusBadRequest, apiError{Code: codeInvalidRequest, Message: "malformed JSON body: " + err.Error()})
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, apiError{Code: codeInvalidRequest, Message: "unexpected data after the JSON body"})
		return
	}
	slab := make([]messages.Record, len(body.Records))
	req := &messages.ProduceRequest{Records: make([]*messages.Record, len(body.Records)), ProducerId: body.ProducerID, Sequence: body.Sequence}
	for i, rec := range body.Records {
		if rec == nil || rec.Value == nil {
			writeError(w, http.StatusBadRequest, apiError{Code: codeInvalidRequest,
				Message: fmt.Sprintf("records[%d] has no \"value\" (base64; \"\" for an empty record)", i)})
			return
		}
		slab[i].Value = *rec.Value
		req.Records[i] = &slab[i]
	}
	// The session checks the same limits; checking here first gives the
	// HTTP status that fits (413 for size, 400 for the rest).
	if bad := actors.ValidateProduce(req, h.n.limits()); bad != nil {
		status := http.StatusBadRequest
		if len(body.Records) > 0 {
			status = http.StatusRequestEntityTooLarge
		}
		if bad.GetField() == "producer_id" {
			status = http.StatusBadRequest
		}
		h.reply(w, bad, status)
		return
	}
	offsets, err := h.session().Produce(r.Context(), req)
	if err != nil {
		h.failed(w, err, http.StatusBadRequest)
		return
	}
	if offsets == nil {
		offsets = []uint64{}
	}
	writeJSON(w, http.StatusOK, map[string][]uint64{"offsets": offsets})
}

type recordJSON struct {
	Offset    uint64 `json:"offset"`
	Value     []byte `json:"value"`
	Timestamp string `json:"timestamp"`
}

type consumeJSON struct {
	Records    []recordJSON `json:"records"`
	NextOffset uint64       `json:"next_offset"`
	LowOffset  uint64       `json:"low_offset"`
	EndOffset  uint64       `json:"end_offset"`
}

func (h *httpAPI) consume(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := func(field, msg string) {
		writeError(w, http.StatusBadRequest, apiError{Code: codeInvalidRequest, Field: field, Message: msg})
	}
	var req messages.ConsumeRequest
	if s := q.Get("offset"); s != "" {
		off, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			bad("offset", fmt.Sprintf("offset %q is not a non-negative integer", s))
			return
		}
		req.Offset = off
	}
	for _, p := range []struct {
		name string
		dst  *uint32
	}{{"max", &req.MaxRecords}, {"max_bytes", &req.MaxBytes}} {
		if s := q.Get(p.name); s != "" {
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				bad(p.name, fmt.Sprintf("%s %q is not a non-negative 32-bit integer", p.name, s))
				return
			}
			*p.dst = uint32(v)
		}
	}
	if s := q.Get("consistent"); s != "" {
		c, err := strconv.ParseBool(s)
		if err != nil {
			bad("consistent", fmt.Sprintf("consistent %q is not a boolean", s))
			return
		}
		req.Consistent = c
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			ms, merr := strconv.ParseUint(s, 10, 32)
			if merr != nil {
				bad("wait", fmt.Sprintf("wait %q is neither a duration (5s) nor milliseconds", s))
				return
			}
			d = time.Duration(ms) * time.Millisecond
		}
		if d < 0 {
			bad("wait", "wait must not be negative")
			return
		}
		wait = min(d, h.n.cfg.MaxWait)
		req.WaitMs = uint32(wait.Milliseconds())
	}
	resp, err := h.session().Consume(r.Context(), &req)
	if err != nil {
		h.failed(w, err, http.StatusBadRequest)
		return
	}
	out := consumeJSON{Records: make([]recordJSON, len(resp.GetRecords())), NextOffset: req.Offset,
		LowOffset: resp.GetLowOffset(), EndOffset: resp.GetNextOffset()}
	for i, rec := range resp.GetRecords() {
		out.Records[i] = recordJSON{Offset: rec.GetOffset(), Value: rec.GetValue(),
			Timestamp: time.Unix(0, rec.GetTimestampUnixNano()).UTC().Format(time.RFC3339Nano)}
		out.NextOffset = rec.GetOffset() + 1
	}
	writeJSON(w, http.StatusOK, out)
}

// reply writes a typed error reply from the actors. badStatus is the status
// for InvalidRequest.
func (h *httpAPI) reply(w http.ResponseWriter, res any, badStatus int) {
	switch m := res.(type) {
	case *messages.InvalidRequest:
		code := codeInvalidRequest
		if badStatus == http.StatusRequestEntityTooLarge {
			code = codeTooLarge
		}
		writeError(w, badStatus, apiError{Code: code, Field: m.GetField(), Message: m.GetReason()})
	case *messages.OffsetOutOfRange:
		low, next := m.GetLowOffset(), m.GetNextOffset()
		writeError(w, http.StatusRequestedRangeNotSatisfiable, apiError{Code: codeOutOfRange,
			Message:   fmt.Sprintf("offset %d is outside the log [%d, %d)", m.GetOffset(), low, next),
			LowOffset: &low, NextOffset: &next})
	case *messages.Unavailable:
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeUnavailable, Message: m.GetReason()})
	case *messages.NotLeader:
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeNotLeader,
			Message: fmt.Sprintf("not the leader; the leader is %q at %q", m.GetLeaderId(), m.GetLeaderActorAddress())})
	case *messages.Unauthorized:
		writeError(w, http.StatusForbidden, apiError{Code: codeUnauthorized,
			Message: fmt.Sprintf("%q may not %s", m.GetIdentity(), m.GetAction())})
	default:
		h.n.log.WithField("reply", fmt.Sprintf("%T", res)).Error("unexpected reply to an HTTP request")
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeUnavailable, Message: fmt.Sprintf("unexpected reply %T", res)})
	}
}

// failed writes the error of a request to the actors: a typed error reply
// (reply, with badStatus for InvalidRequest), a timeout or unavailability.
func (h *httpAPI) failed(w http.ResponseWriter, err error, badStatus int) {
	var refused *actors.RefusedError
	if errors.As(err, &refused) {
		h.reply(w, refused.Reply, badStatus)
		return
	}
	if errors.Is(err, actors.ErrTimeout) {
		writeError(w, http.StatusGatewayTimeout, apiError{Code: codeTimeout, Message: "the node did not answer in time"})
		return
	}
	writeError(w, http.StatusServiceUnavailable, apiError{Code: codeUnavailable, Message: err.Error()})
}

func (h *httpAPI) health(w http.ResponseWriter) {
	if err := h.n.Healthy(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "node": h.n.cfg.ID, "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": h.n.cfg.ID})
}

func (h *httpAPI) ready(w http.ResponseWriter) {
	if err := h.n.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "node": h.n.cfg.ID, "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "node": h.n.cfg.ID})
}

func (h *httpAPI) fault(w http.ResponseWriter, r *http.Request) {
	mode := messages.FaultMode_FAULT_PANIC_NOW
	switch m := r.URL.Query().Get("mode"); m {
	case "", "now":
	case "after-append":
		mode = messages.FaultMode_FAULT_PANIC_AFTER_NEXT_APPEND
	default:
		writeError(w, http.StatusBadRequest, apiError{Code: codeInvalidRequest, Field: "mode", Message: fmt.Sprintf("mode %q is neither now nor after-append", m)})
		return
	}
	base, err := h.log.InjectFault(r.Context(), mode)
	if err != nil {
		h.failed(w, err, http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"segment_base_offset": base})
}

// diverge makes this replica alter the record at offset when it applies
// it, as a bug would: the divergence checker must find and repair it.
func (h *httpAPI) diverge(w http.ResponseWriter, r *http.Request) {
	off, err := strconv.ParseUint(r.URL.Query().Get("offset"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, apiError{Code: codeInvalidRequest, Field: "offset", Message: "offset must be a non-negative integer"})
		return
	}
	if err := h.n.fsm.InjectDivergence(off); err != nil {
		writeError(w, http.StatusBadRequest, apiError{Code: codeInvalidRequest, Field: "offset", Message: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"offset": off})
}

// newStdLogger adapts logrus for net/http's error log (TLS handshake
// errors, malformed requests): client mistakes, so debug level. Unlike
// logrus's own Writer it needs no goroutine.
func newStdLogger(e *logrus.Entry) *log.Logger {
	return log.New(logWriter{e}, "", 0)
}

type logWriter struct{ e *logrus.Entry }

func (w logWriter) Write(p []byte) (int, error) {
	w.e.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

type statusJSON struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	LeaderID     string `json:"leader_id"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LowOffset    uint64 `json:"low_offset"`
	NextOffset   uint64 `json:"next_offset"`
	// Consul is the node's registration: off, starting, registered or
	// unavailable.
	Consul string `json:"consul"`
	// Produces and Consumes count the produce and consume requests that
	// clients sent this node over the actor remote since it started.
	Produces uint64 `json:"produce_requests"`
	Consumes uint64 `json:"consume_requests"`
}

func (h *httpAPI) status(w http.ResponseWriter, r *http.Request) {
	n := h.n
	rs := h.raft.Status()
	out := statusJSON{ID: n.cfg.ID, State: rs.State, LeaderID: rs.LeaderID, Term: rs.Term,
		CommitIndex: rs.CommitIndex, AppliedIndex: rs.AppliedIndex, Consul: n.ConsulState(),
		Produces: n.guard.produces.Load(), Consumes: n.guard.consumes.Load()}
	st, err := h.log.Status(r.Context())
	var refused *actors.RefusedError
	if err != nil && !errors.As(err, &refused) {
		h.failed(w, err, http.StatusBadRequest)
		return
	}
	if err == nil {
		out.LowOffset, out.NextOffset = st.GetLowOffset(), st.GetNextOffset()
	}
	writeJSON(w, http.StatusOK, out)
}

type serverJSON struct {
	ID           string `json:"id"`
	ActorAddress string `json:"actor_address"`
	RaftAddress  string `json:"raft_address"`
	HTTPAddress  string `json:"http_address"`
	GRPCAddress  string `json:"grpc_address,omitempty"`
	IsLeader     bool   `json:"is_leader"`
	// Voter is false for a member that is not a voter yet (it joined and
	// has not been promoted: README, "Membership").
	Voter bool `json:"voter"`
}

func (h *httpAPI) servers(w http.ResponseWriter, r *http.Request) {
	servers, err := h.raft.Servers(r.Context())
	if err != nil {
		h.failed(w, err, http.StatusBadRequest)
		return
	}
	out := make([]serverJSON, 0, len(servers))
	for _, s := range servers {
		out = append(out, serverJSON{ID: s.GetId(), ActorAddress: s.GetActorAddress(), RaftAddress: s.GetRaftAddress(),
			HTTPAddress: s.GetHttpAddress(), GRPCAddress: s.GetGrpcAddress(), IsLeader: s.GetIsLeader(), Voter: s.Voter})
	}
	writeJSON(w, http.StatusOK, out)
}

// leave takes the node out of its cluster (Node.Leave). The request's
// timeout (?timeout=, default DefaultLeaveTimeout) is capped so that the
// answer always fits in the server's write timeout.
func (h *httpAPI) leave(w http.ResponseWriter, r *http.Request) {
	timeout := DefaultLeaveTimeout
	if s := r.URL.Query().Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, apiError{Code: codeInvalidRequest, Field: "timeout",
				Message: fmt.Sprintf("timeout %q is not a positive duration (30s)", s)})
			return
		}
		timeout = d
	}
	timeout = min(timeout, h.n.cfg.MaxWait+h.n.cfg.RequestTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := h.n.Leave(ctx)
	switch {
	case err == nil:
		voters := res.Voters
		if voters == nil {
			voters = []string{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"node": h.n.cfg.ID, "removed": res.Removed, "leader": res.Leader, "voters": voters})
	case errors.Is(err, ErrLastVoter):
		writeError(w, http.StatusConflict, apiError{Code: codeLastVoter, Message: err.Error()})
	case errors.Is(err, ErrLeaveQuorum):
		writeError(w, http.StatusConflict, apiError{Code: codeNoQuorum, Message: err.Error()})
	case errors.Is(err, ErrLeaving):
		writeError(w, http.StatusConflict, apiError{Code: codeLeaving, Message: err.Error()})
	case errors.Is(err, ErrNoLeader):
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeNoLeader, Message: err.Error()})
	default:
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeUnavailable, Message: err.Error()})
	}
}
