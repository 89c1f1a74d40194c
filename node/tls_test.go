package node

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"actorlog/actors"
	"actorlog/certs"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// devCerts writes a CA and issues the named certificates (node ones with
// node set) into a temp dir, returning their loaded configurations.
func devCerts(nodes []string, clients []string) map[string]*tls.Config {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	ca, err := certs.NewCA("test CA")
	Expect(err).NotTo(HaveOccurred())
	caFile := filepath.Join(dir, "ca.pem")
	Expect(ca.WriteFiles(caFile, filepath.Join(dir, "ca-key.pem"), false)).To(Succeed())
	out := map[string]*tls.Config{}
	issue := func(name string, node bool) {
		kp, err := certs.Issue(ca, certs.Options{CommonName: name, Node: node, Hosts: []string{"127.0.0.1"}})
		Expect(err).NotTo(HaveOccurred())
		f := certs.Files{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem"), CA: caFile}
		Expect(kp.WriteFiles(f.Cert, f.Key, false)).To(Succeed())
		out[name], err = certs.Load(f)
		Expect(err).NotTo(HaveOccurred())
	}
	for _, n := range nodes {
		issue(n, true)
	}
	for _, c := range clients {
		issue(c, false)
	}
	return out
}

var _ = Describe("A node with mutual TLS", func() {
	var (
		n     *Node
		cfgs  map[string]*tls.Config
		admin *http.Client
	)
	BeforeEach(func() {
		cfgs = devCerts([]string{"n1"}, []string{"root", "reader"})
		policy := filepath.Join(GinkgoT().TempDir(), "policy.csv")
		Expect(os.WriteFile(policy, []byte("p, root, *\np, reader, consume\n"), 0o644)).To(Succeed())
		cfg := testConfig()
		cfg.TLS = cfgs["n1"]
		cfg.ACLPolicy = policy
		n = startNode(cfg)
		admin = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfgs["root"]}}
	})

	It("keeps a client identity to the sessions: no raft actor, no internal messages", func() {
		c := newWireClientTLS(n, cfgs["root"])
		sess := c.openSession()
		before := n.guard.dropped.Load()
		// A join sent by a client certificate: refused at the transport.
		c.send(actor.NewPID(n.ActorAddr(), actors.RaftName), &messages.JoinRequest{Member: &messages.Member{Id: "intruder", ActorAddress: "127.0.0.1:1", RaftAddress: "127.0.0.1:2"}}, c.pid("join"))
		// Internal messages to a session: refused too.
		c.send(sess, &messages.ClientEndpointTerminated{Address: c.addr}, nil)
		c.send(sess, &messages.SessionInfoRequest{}, c.pid("info"))
		Eventually(n.guard.dropped.Load).Should(Equal(before + 3))

		res := c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("still served")}}})
		Expect(res).To(EqualProto(&messages.ProduceResponse{Offsets: []uint64{0}}))
		cfgF := n.raft.GetConfiguration()
		Expect(cfgF.Error()).To(Succeed())
		Expect(cfgF.Configuration().Servers).To(HaveLen(1))
	})

	It("authorises each request by the policy and changes nothing when it refuses", func() {
		c := newWireClientTLS(n, cfgs["reader"])
		sess := c.openSession()
		Expect(c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("no")}}})).
			To(EqualProto(&messages.Unauthorized{Identity: "reader", Action: "produce"}))
		res := c.ask(sess, &messages.ConsumeRequest{Offset: 0})
		Expect(res).To(BeAssignableToTypeOf(&messages.OffsetOutOfRange{}), "the log is still empty: %v", res)
		Expect(c.ask(sess, &messages.ServersRequest{})).To(BeAssignableToTypeOf(&messages.ServersResponse{}))
	})

	It("refuses protoactor's unary methods to a client certificate and keeps serving", func() {
		conn, err := grpc.NewClient(n.ActorAddr(), grpc.WithTransportCredentials(credentials.NewTLS(cfgs["reader"])))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)
		expectUnaryRefused(remote.NewRemotingClient(conn))
		c := newWireClientTLS(n, cfgs["root"])
		Expect(c.ask(c.openSession(), &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("alive")}}})).
			To(EqualProto(&messages.ProduceResponse{Offsets: []uint64{0}}))
	})

	It("answers 403 when an identity granted only consume asks for the admin status", func() {
		reader := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfgs["reader"]}}
		resp, err := reader.Get(fmt.Sprintf("https://%s/v1/status", n.HTTPAddr()))
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
		var body struct {
			Error struct{ Code, Message string }
		}
		Expect(json.NewDecoder(resp.Body).Decode(&body)).To(Succeed())
		Expect(body.Error.Code).To(Equal("unauthorized"))
		Expect(body.Error.Message).To(And(ContainSubstring("reader"), ContainSubstring("admin")))
	})

	It("lets only admin identities and nodes ask a node to leave, and refuses the only voter", func() {
		leave := func(c *http.Client) (int, string) {
			GinkgoHelper()
			resp, err := c.Post(fmt.Sprintf("https://%s/v1/leave?timeout=5s", n.HTTPAddr()), "", nil)
			Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code, Message string }
			}
			Expect(json.NewDecoder(resp.Body).Decode(&body)).To(Succeed())
			return resp.StatusCode, body.Error.Code
		}
		noCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfgs["root"].RootCAs}}}
		code, reason := leave(noCert)
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(reason).To(Equal("certificate_required"))
		reader := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfgs["reader"]}}
		code, reason = leave(reader)
		Expect(code).To(Equal(http.StatusForbidden))
		Expect(reason).To(Equal("unauthorized"))
		code, reason = leave(admin)
		Expect(code).To(Equal(http.StatusConflict))
		Expect(reason).To(Equal("last_voter"))
		node := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfgs["n1"]}}
		code, reason = leave(node)
		Expect(code).To(Equal(http.StatusConflict))
		Expect(reason).To(Equal("last_voter"))
		Expect(n.Left()).To(BeFalse())
		Expect(n.Ready()).To(Succeed())
		_, err := os.Stat(leftMarkerPath(n.cfg.DataDir))
		Expect(os.IsNotExist(err)).To(BeTrue(), "a refused leave writes no marker")
	})

	It("serves health without a client certificate and records only with one", func() {
		noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfgs["root"].RootCAs}}}
		resp, err := noCert.Get(fmt.Sprintf("https://%s/healthz", n.HTTPAddr()))
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		resp, err = noCert.Get(fmt.Sprintf("https://%s/v1/status", n.HTTPAddr()))
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
		resp, err = admin.Get(fmt.Sprintf("https://%s/v1/status", n.HTTPAddr()))
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
	})
})

var _ = Describe("Config with TLS", func() {
	It("refuses a client certificate as the node's own, and a policy without TLS", func() {
		cfgs := devCerts(nil, []string{"root"})
		cfg := testConfig()
		cfg.TLS = cfgs["root"]
		Expect(cfg.Validate()).To(MatchError(ContainSubstring("not a node certificate")))
		cfg = testConfig()
		cfg.ACLPolicy = "policy.csv"
		Expect(cfg.Validate()).To(MatchError(ContainSubstring("ACLPolicy: needs TLS")))
	})
})
