package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestScrapeDiskReadsEveryLog(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP actorlog_disk_write_bytes_total x\n"+
			"actorlog_disk_write_bytes_total{log=\"raft\"} 2.5e+06\n"+
			"actorlog_disk_write_bytes_total{log=\"records\"} 1000\n"+
			"actorlog_other 7\n")
	}))
	defer srv.Close()
	got, err := scrapeDisk(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got["raft"] != 2500000 || got["records"] != 1000 || len(got) != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestScrapeDiskRefusesANodeWithoutTheCounter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "actorlog_other 7\n")
	}))
	defer srv.Close()
	if _, err := scrapeDisk(context.Background(), srv.Client(), srv.URL); err == nil || !strings.Contains(err.Error(), "has no") {
		t.Fatalf("err = %v, want a missing-counter error", err)
	}
}

func TestDiskWritesAreBytesPerRecordByNode(t *testing.T) {
	before := diskSample{"a": {"records": 100, "raft": 100}, "b": {"records": 0}}
	after := diskSample{"a": {"records": 1100, "raft": 2100}, "b": {"records": 500}, "c": {"records": 9}}
	got := diskWrites(before, after, 10)
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Fatalf("nodes %v: want a and b (c has no sample before)", got)
	}
	if got[0].PerRecord != 300 || got[0].ByLog["records"] != 100 || got[0].ByLog["raft"] != 200 {
		t.Fatalf("a: %+v", got[0])
	}
	if got[1].PerRecord != 50 {
		t.Fatalf("b: %+v", got[1])
	}
	if line := diskText(got, 100, ""); !strings.Contains(line, "a 300 B (3.00× the value, records 100, raft 200)") {
		t.Fatalf("text %q", line)
	}
}
