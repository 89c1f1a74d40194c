package specs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("A round trip through one node", func() {
	const n = 100_000

	It("stores 100,000 records from the CLI and 100,000 from the client and reads them all back byte for byte", func() {
		node := startAgent("rt1", GinkgoT().TempDir())
		c := newClient(node)

		By("producing 100,000 lines through the CLI")
		var in bytes.Buffer
		cliValues := make([][]byte, n)
		for i := range cliValues {
			cliValues[i] = fmt.Appendf(nil, "cli-%06d-%s", i, bytes.Repeat([]byte{'a' + byte(i%26)}, i%50))
			in.Write(cliValues[i])
			in.WriteByte('\n')
		}
		produce := cli(&in, "produce", "--servers", node.actorAddr, "--batch", "500")
		Eventually(produce, 2*time.Minute).Should(gexec.Exit(0))
		cliOffsets := lines(produce.Out.Contents())
		Expect(cliOffsets).To(HaveLen(n))

		By("producing 100,000 binary values through the Go client")
		rng := rand.New(rand.NewPCG(1, 2))
		clientValues := make([][]byte, n)
		for i := range clientValues {
			v := make([]byte, rng.IntN(200))
			for j := range v {
				v[j] = byte(rng.Uint32()) // any byte, newlines and zeros included
			}
			clientValues[i] = v
		}
		clientOffsets := make([]uint64, 0, n)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for i := 0; i < n; i += 1000 {
			offs, err := c.Produce(ctx, clientValues[i:i+1000]...)
			Expect(err).NotTo(HaveOccurred())
			clientOffsets = append(clientOffsets, offs...)
		}

		By("reading the whole log back through the client")
		all := readAll(c)
		Expect(all).To(HaveLen(2 * n))
		for i, s := range cliOffsets {
			off, err := strconv.ParseUint(s, 10, 64)
			Expect(err).NotTo(HaveOccurred())
			Expect(all[off]).To(Equal(cliValues[i]), "CLI line %d at offset %d", i, off)
		}
		for i, off := range clientOffsets {
			Expect(all[off]).To(Equal(clientValues[i]), "client value %d at offset %d", i, off)
		}

		By("reading the CLI's records back through the CLI, one per line")
		plain := cli(nil, "consume", "--servers", node.actorAddr, "--from", "0", "--count", strconv.Itoa(n))
		Eventually(plain, time.Minute).Should(gexec.Exit(0))
		got := bytes.Split(bytes.TrimSuffix(plain.Out.Contents(), []byte("\n")), []byte("\n"))
		Expect(got).To(HaveLen(n))
		for i := range got {
			Expect(got[i]).To(Equal(all[i]))
		}

		By("reading everything back through the CLI as JSON, binary values included")
		js := cli(nil, "consume", "--servers", node.actorAddr, "--json")
		Eventually(js, time.Minute).Should(gexec.Exit(0))
		dec := json.NewDecoder(bytes.NewReader(js.Out.Contents()))
		count := 0
		for dec.More() {
			var r struct {
				Offset uint64 `json:"offset"`
				Value  []byte `json:"value"`
			}
			Expect(dec.Decode(&r)).To(Succeed())
			Expect(r.Offset).To(Equal(uint64(count)))
			Expect(r.Value).To(Equal(all[count]))
			count++
		}
		Expect(count).To(Equal(2 * n))
	})
})
