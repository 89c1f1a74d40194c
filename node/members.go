package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"actorlog/actors"
	"actorlog/certs"
	"actorlog/messages"
)

// memberStatus asks a member's HTTP API for its applied index: the leader
// promotes a non-voter only once it answers and has caught up (see
// actors.RaftConfig.MemberStatus). With TLS the node presents its own
// certificate (a node's, which may read /v1/status) and requires the
// member's to be the node certificate named as the member.
func (n *Node) memberStatus() func(ctx context.Context, m *messages.Member) (actors.MemberStatus, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}
	scheme := "http://"
	if n.cfg.TLS != nil {
		scheme = "https://"
		tr.TLSClientConfig = n.cfg.TLS.Clone()
	}
	hc := &http.Client{Transport: tr}
	return func(ctx context.Context, m *messages.Member) (actors.MemberStatus, error) {
		var st actors.MemberStatus
		if m.GetHttpAddress() == "" {
			return st, errors.New("no HTTP address known")
		}
		c := hc
		if n.cfg.TLS != nil {
			t := tr.Clone()
			t.TLSClientConfig = certs.RequireName(n.cfg.TLS, m.GetId())
			c = &http.Client{Transport: t}
			defer t.CloseIdleConnections()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+m.GetHttpAddress()+"/v1/status", nil)
		if err != nil {
			return st, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return st, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return st, fmt.Errorf("status %s", resp.Status)
		}
		var body struct {
			AppliedIndex uint64 `json:"applied_index"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return st, err
		}
		st.AppliedIndex = body.AppliedIndex
		return st, nil
	}
}

// verifyMember checks, with TLS, that the certificates at a member's raft
// address and at its actor address are node certificates of the CA whose
// Common Name is the member's id, so that no node (or stolen node
// certificate) registers, or joins, under another member's id or address;
// nil without TLS.
func (n *Node) verifyMember() func(ctx context.Context, m *messages.Member) error {
	if n.cfg.TLS == nil {
		return nil
	}
	timeout := n.cfg.RequestTimeout
	return func(ctx context.Context, m *messages.Member) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		cfg := certs.RequireName(certs.RequireNode(n.cfg.TLS), m.GetId())
		for _, addr := range []string{m.GetRaftAddress(), m.GetActorAddress()} {
			err := certs.Check(ctx, addr, cfg)
			if errors.Is(err, certs.ErrHandshake) {
				return fmt.Errorf("%w: %w", actors.ErrPeerRejected, err)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}
