package specs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"actorlog/certs"
	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// tool finds a program the Makefile installs (make python-grpc, make
// grpcurl): $env when set, else the first of the candidates that exists.
// A spec never skips for a missing tool: it fails and names the target.
func tool(env, target string, candidates ...string) string {
	GinkgoHelper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	for _, c := range candidates {
		if filepath.IsAbs(c) {
			if _, err := os.Stat(c); err == nil {
				return c
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	Fail("cannot find " + candidates[0] + ": run `make " + target + "`")
	return ""
}

// startTLSCluster starts three agents with mutual TLS and the certs
// command's sample policy (root may do everything, nobody nothing), and
// waits until the first lists all three.
func startTLSCluster(set certSet) []*agent {
	GinkgoHelper()
	tmp := GinkgoT().TempDir()
	flags := func(id string, more ...string) []string {
		return append(append(set.flags(id), "--acl-policy", set.file("policy.csv")), more...)
	}
	n1 := startAgent("n1", filepath.Join(tmp, "n1"), flags("n1")...)
	n2 := startAgent("n2", filepath.Join(tmp, "n2"), flags("n2", "--join", n1.actorAddr)...)
	n3 := startAgent("n3", filepath.Join(tmp, "n3"), flags("n3", "--join", n1.actorAddr)...)
	admin := httpsClient(set, set, "root")
	Eventually(func() (int, error) {
		code, body, err := do(admin, http.MethodGet, "https://"+n1.httpAddr+"/v1/servers", nil)
		if err != nil || code != http.StatusOK {
			return 0, err
		}
		var list []struct {
			GRPC   string `json:"grpc_address"`
			Leader bool   `json:"is_leader"`
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			return 0, err
		}
		n := 0
		for _, s := range list {
			if s.GRPC != "" {
				n++
			}
		}
		return n, nil
	}, 60*time.Second, 200*time.Millisecond).Should(Equal(3))
	return []*agent{n1, n2, n3}
}

var _ = Describe("gRPC clients of a 3-node cluster with mutual TLS", Ordered, func() {
	var (
		set   certSet
		nodes []*agent
	)
	BeforeAll(func() {
		set = makeCerts(filepath.Join(GinkgoT().TempDir(), "certs"), "--nodes", "3", "--clients", "root,nobody,reader")
		Expect(os.WriteFile(set.file("policy.csv"), []byte("p, root, *\np, reader, consume\n"), 0o644)).To(Succeed())
		nodes = startTLSCluster(set)
	})

	It("serves a Python client generated from the .proto files: produce, consume, streams, OutOfRange and PermissionDenied with their details", func() {
		protoc := tool("PROTOC", "python-grpc", "protoc")
		plugin := tool("GRPC_PYTHON_PLUGIN", "python-grpc", "grpc_python_plugin")
		// Debian's interpreter, where python3-grpcio is installed, even
		// when another python3 comes first on PATH.
		python := tool("PYTHON3", "python-grpc", "/usr/bin/python3", "python3")

		gen := GinkgoT().TempDir()
		cmd := exec.Command(protoc, "-I", "../messages", "-I", "testdata/python",
			"--python_out", gen, "--grpc_python_out", gen, "--plugin=protoc-gen-grpc_python="+plugin,
			"actorlog.proto", "log.proto", "rpc_status.proto")
		outp, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "protoc: %s", outp)
		Expect(filepath.Join(gen, "log_pb2_grpc.py")).To(BeAnExistingFile())

		root, nobody := set.files("root"), set.files("nobody")
		run := exec.Command(python, "testdata/python/log_client.py", "--gen", gen, "--server", nodes[1].grpcAddr,
			"--ca", root.CA, "--cert", root.Cert, "--key", root.Key, "--denied-cert", nobody.Cert, "--denied-key", nobody.Key)
		session, err := gexec.Start(run, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session, 2*time.Minute).Should(gexec.Exit(0))

		steps := map[string]map[string]any{}
		sc := bufio.NewScanner(bytes.NewReader(session.Out.Contents()))
		for sc.Scan() {
			var m map[string]any
			Expect(json.Unmarshal(sc.Bytes(), &m)).To(Succeed(), sc.Text())
			steps[m["step"].(string)] = m
		}
		Expect(steps["servers"]).To(HaveKeyWithValue("count", BeNumerically("==", 3)))
		Expect(steps["produce"]["offsets"]).To(Equal([]any{0.0, 1.0}))
		Expect(steps["produce_retry"]["offsets"]).To(Equal([]any{0.0, 1.0}), "a retried sequence is answered, not appended")
		Expect(steps["consume"]["values"]).To(Equal([]any{"py-0", "py-1"}))
		offs := steps["produce_stream"]["offsets"].([]any)
		Expect(offs).To(HaveLen(20))
		for i, o := range offs {
			Expect(o).To(BeNumerically("==", 2+i), "one answer per request, in order")
		}
		vals := steps["consume_stream"]["values"].([]any)
		Expect(vals).To(HaveLen(22))
		Expect(vals[0]).To(Equal("py-0"))
		Expect(vals[21]).To(Equal("py-stream-19"))
		Expect(steps["out_of_range"]).To(And(
			HaveKeyWithValue("code", "OUT_OF_RANGE"),
			HaveKeyWithValue("offset", BeNumerically("==", 1000000)),
			HaveKeyWithValue("low", BeNumerically("==", 0)),
			HaveKeyWithValue("next", BeNumerically("==", 22))))
		// nobody holds no grant, so it may not even open a session.
		Expect(steps["permission_denied"]).To(And(
			HaveKeyWithValue("code", "PERMISSION_DENIED"),
			HaveKeyWithValue("identity", "nobody"),
			HaveKeyWithValue("action", "open a session")))
	})

	It("serves the Go client's gRPC transport with the certificate's identity and the policy", func() {
		connect := func(name string) *client.Client {
			GinkgoHelper()
			cfg, err := certs.Load(set.files(name))
			Expect(err).NotTo(HaveOccurred())
			return clusterClient([]string{nodes[2].grpcAddr}, func(c *client.Config) {
				c.Transport, c.TLS = client.TransportGRPC, cfg
			})
		}
		root, reader := connect("root"), connect("reader")
		offs := produceAll(root, uniqueValues("go-tls", 3))
		_, err := reader.Produce(specCtx(20*time.Second), []byte("refused"))
		var un *client.UnauthorizedError
		Expect(errors.As(err, &un)).To(BeTrue(), "%v", err)
		Expect(un.Identity).To(Equal("reader"))
		Expect(un.Action).To(Equal("produce"))
		res, err := reader.Consume(specCtx(20*time.Second), offs[0], client.ConsumeOptions{PreferLeader: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Records).To(HaveLen(3))
	})
})

var _ = Describe("grpcurl (built from its Go module)", func() {
	grpcurl := func() string {
		GinkgoHelper()
		return tool("GRPCURL_BIN", "grpcurl", filepath.Join("..", "bin", "grpcurl"))
	}
	run := func(args ...string) string {
		GinkgoHelper()
		s, err := gexec.Start(exec.Command(grpcurl(), args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s, 30*time.Second).Should(gexec.Exit(0))
		return string(s.Out.Contents())
	}

	It("lists the services through reflection and calls the Log service with no .proto file", func() {
		a := startAgent("g1", GinkgoT().TempDir())
		Expect(strings.Fields(run("-plaintext", a.grpcAddr, "list"))).To(ContainElements(
			"actorlog.v1.Log", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"))
		Expect(run("-plaintext", a.grpcAddr, "describe", "actorlog.v1.Log")).To(ContainSubstring("rpc ConsumeStream"))
		Eventually(func() string {
			s, _ := gexec.Start(exec.Command(grpcurl(), "-plaintext", a.grpcAddr, "grpc.health.v1.Health/Check"), GinkgoWriter, GinkgoWriter)
			Eventually(s, 30*time.Second).Should(gexec.Exit())
			return string(s.Out.Contents())
		}, 30*time.Second, 500*time.Millisecond).Should(ContainSubstring("SERVING"))
		out := run("-plaintext", "-d", `{"records":[{"value":"aGVsbG8="}]}`, a.grpcAddr, "actorlog.v1.Log/Produce")
		Expect(out).To(ContainSubstring(`"offsets"`))
		Expect(run("-plaintext", "-d", `{"offset":0}`, a.grpcAddr, "actorlog.v1.Log/Consume")).To(ContainSubstring(`"aGVsbG8="`))
	})

	It("speaks mutual TLS with a client certificate", func() {
		set := makeCerts(filepath.Join(GinkgoT().TempDir(), "certs"), "--nodes", "1")
		a := startAgent("t1", GinkgoT().TempDir(), append(set.flags("n1"), "--acl-policy", set.file("policy.csv"))...)
		root := set.files("root")
		Expect(run("-cacert", root.CA, "-cert", root.Cert, "-key", root.Key, a.grpcAddr, "list")).To(ContainSubstring("actorlog.v1.Log"))
	})
})
