package specs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"actorlog/client"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var _ = Describe("Bad input", Ordered, func() {
	var (
		node   *agent
		c      *client.Client
		before uint64
	)

	BeforeAll(func() {
		node = startAgent("bad1", GinkgoT().TempDir())
		c = newClient(node)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Produce(ctx, []byte("one"), []byte("two"), []byte("three"))
		Expect(err).NotTo(HaveOccurred())
	})

	BeforeEach(func() { before = nextOffset(c) })

	AfterEach(func() {
		By("leaving the node up and the log unchanged")
		Expect(node.session).NotTo(gexec.Exit())
		Expect(node.healthy()).To(Succeed())
		Expect(nextOffset(c)).To(Equal(before))
	})

	It("rejects an oversized record in the client, before sending it", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		limits, err := c.Limits(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(limits.MaxRecordBytes).To(BeNumerically(">", 0))
		_, err = c.Produce(ctx, []byte("fine"), make([]byte, limits.MaxRecordBytes+1))
		var inv *client.InvalidRequestError
		Expect(errors.As(err, &inv)).To(BeTrue(), "got %v", err)
		Expect(inv.Field).To(Equal("values[1]"))
	})

	It("rejects an oversized record over HTTP with a 4xx JSON error", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		limits, err := c.Limits(ctx)
		Expect(err).NotTo(HaveOccurred())
		big := base64.StdEncoding.EncodeToString(make([]byte, limits.MaxRecordBytes+1))
		status, body := httpJSON(http.MethodPost, node.url("/v1/records"), []byte(`{"records":[{"value":"`+big+`"}]}`))
		Expect(status).To(BeNumerically(">=", 400))
		Expect(status).To(BeNumerically("<", 500))
		Expect(body).NotTo(BeEmpty())
	})

	It("rejects a negative offset over HTTP and on the command line", func() {
		status, _ := httpJSON(http.MethodGet, node.url("/v1/records?offset=-1"), nil)
		Expect(status).To(Equal(http.StatusBadRequest))

		consume := cli(nil, "consume", "--servers", node.actorAddr, "--from", "-1")
		Eventually(consume, 10*time.Second).Should(gexec.Exit(2))
		Expect(consume.Err).To(gbytes.Say(`--from`))
	})

	It("rejects an offset past the end in the client, over HTTP and on the command line", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Consume(ctx, before+1, client.ConsumeOptions{})
		var oor *client.OffsetOutOfRangeError
		Expect(errors.As(err, &oor)).To(BeTrue(), "got %v", err)
		Expect(oor.Offset).To(Equal(before + 1))
		Expect(oor.Next).To(Equal(before))

		status, _ := httpJSON(http.MethodGet, node.url(fmt.Sprintf("/v1/records?offset=%d", before+1)), nil)
		Expect(status).To(BeNumerically(">=", 400))
		Expect(status).To(BeNumerically("<", 500))

		consume := cli(nil, "consume", "--servers", node.actorAddr, "--from", strconv.FormatUint(before+1, 10))
		Eventually(consume, 10*time.Second).Should(gexec.Exit(1))
		Expect(consume.Err).To(gbytes.Say(`out of range`))
	})

	It("answers malformed JSON with a 4xx JSON error", func() {
		for _, body := range []string{`{"records":[{"value":`, `not json at all`, `{"records":[{"value":"***not base64***"}]}`, `{"records":"nope"}`} {
			status, resp := httpJSON(http.MethodPost, node.url("/v1/records"), []byte(body))
			Expect(status).To(BeNumerically(">=", 400), "body %q", body)
			Expect(status).To(BeNumerically("<", 500), "body %q", body)
			Expect(resp).NotTo(BeEmpty())
		}
	})

	It("survives protobuf messages it does not know, and malformed batches, sent straight to the remote port", func() {
		conn, err := grpc.NewClient(node.actorAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()

		sessions := &actor.PID{Address: node.actorAddr, Id: "sessions"}
		batches := map[string]*remote.MessageBatch{
			"an unknown type name": {
				TypeNames: []string{"actorlog.v1.NoSuchMessage"},
				Targets:   []*actor.PID{sessions},
				Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: []byte{1, 2, 3}}},
			},
			"garbage bytes for a known type": {
				TypeNames: []string{"actorlog.v1.ProduceRequest"},
				Targets:   []*actor.PID{sessions},
				Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: []byte{0xff, 0xff, 0xff, 0xff}}},
			},
			"a type index out of range": {
				TypeNames: []string{"actorlog.v1.OpenSession"},
				Targets:   []*actor.PID{sessions},
				Envelopes: []*remote.MessageEnvelope{{TypeId: 7, Target: 0}},
			},
			"a target index out of range": {
				TypeNames: []string{"actorlog.v1.OpenSession"},
				Targets:   []*actor.PID{sessions},
				Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 9}},
			},
		}
		for name, batch := range batches {
			By("sending " + name)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			stream, err := remote.NewRemotingClient(conn).Receive(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
				ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
					ServerConnection: &remote.ServerConnection{SystemId: "bad-input-spec", Address: "127.0.0.1:1"},
				}},
			}})).To(Succeed())
			_, err = stream.Recv() // the ConnectResponse
			Expect(err).NotTo(HaveOccurred())
			Expect(stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: batch}})).To(Succeed())
			// The node either drops the envelope or closes this stream;
			// either way the reply is not a crash. Wait for the stream to
			// end or the deadline, whichever comes first.
			_ = stream.CloseSend()
			_, _ = stream.Recv()
			cancel()
			Consistently(node.session, 500*time.Millisecond).ShouldNot(gexec.Exit(), "the node died on %s", name)
		}

		By("still serving clients afterwards")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Consume(ctx, 0, client.ConsumeOptions{MaxRecords: 3})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Records).To(HaveLen(3))
		Expect(string(res.Records[0].Value)).To(Equal("one"))
	})
})
