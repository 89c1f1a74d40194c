package client_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"actorlog/client"
	"actorlog/node"
	"github.com/sirupsen/logrus"
)

// Example starts a single node in this process, in a temporary directory
// and on ports the kernel picks, then produces two records with the Go
// client and consumes them back.
func Example() {
	dir, err := os.MkdirTemp("", "actorlog-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Logs would go to stderr; the example keeps quiet.
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)

	// A node that bootstraps alone is a complete cluster of one.
	cfg := node.DefaultConfig()
	cfg.ID = "n1"
	cfg.DataDir = dir
	cfg.ActorAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.Bootstrap = true
	cfg.Logger = quiet
	n, err := node.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	}()

	// Any one node's actor address is enough: the client learns the rest
	// of the cluster, and its leader, from it.
	c, err := client.New(ctx, client.Config{Servers: []string{n.ActorAddr()}, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	offsets, err := c.Produce(ctx, []byte("hello"), []byte("world"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("produced at", offsets)

	res, err := c.Consume(ctx, offsets[0], client.ConsumeOptions{MaxRecords: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res.Records {
		fmt.Printf("%d: %s\n", r.Offset, r.Value)
	}
	// Output:
	// produced at [0 1]
	// 0: hello
	// 1: world
}
