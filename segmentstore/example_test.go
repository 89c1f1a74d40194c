package segmentstore_test

import (
	"fmt"
	"os"

	"actorlog/segmentstore"
)

// Example opens a log in a new directory, appends two records and reads
// them back by offset.
func Example() {
	dir, err := os.MkdirTemp("", "segmentstore-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	l, err := segmentstore.Open(dir, segmentstore.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	// Offsets are dense and assigned by the log: the first record of an
	// empty log gets offset 0.
	first, err := l.Append(
		segmentstore.Record{Value: []byte("hello")},
		segmentstore.Record{Value: []byte("world")},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("first offset:", first, "next offset:", l.NextOffset())

	recs, err := l.ReadRange(first, 10, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range recs {
		fmt.Printf("%d: %s\n", r.Offset, r.Value)
	}
	// Output:
	// first offset: 0 next offset: 2
	// 0: hello
	// 1: world
}

// ExampleOpen closes a log and opens its directory again: what Close made
// durable is all there, and appends go on from the next offset.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "segmentstore-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	l, err := segmentstore.Open(dir, segmentstore.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := l.Append(segmentstore.Record{Value: []byte("before")}); err != nil {
		fmt.Println(err)
		return
	}
	if err := l.Close(); err != nil {
		fmt.Println(err)
		return
	}

	l, err = segmentstore.Open(dir, segmentstore.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	off, err := l.Append(segmentstore.Record{Value: []byte("after")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("appended at", off)
	for o := range l.NextOffset() {
		r, err := l.Read(o)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%d: %s\n", r.Offset, r.Value)
	}
	// Output:
	// appended at 1
	// 0: before
	// 1: after
}
