package cfgerr_test

import (
	"errors"
	"fmt"
	"testing"

	"actorlog/internal/cfgerr"
)

var (
	errA = errors.New("a: invalid config")
	errB = errors.New("b: invalid config")
)

type kindA struct{}

func (kindA) Sentinel() error { return errA }

type kindB struct{}

func (kindB) Sentinel() error { return errB }

type (
	errorA = cfgerr.Error[kindA]
	errorB = cfgerr.Error[kindB]
)

func TestMessageStartsWithTheSentinel(t *testing.T) {
	err := &errorA{Field: "Size", Reason: "must be positive"}
	if got, want := err.Error(), "a: invalid config: Size: must be positive"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestMatchesOnlyItsOwnSentinel(t *testing.T) {
	err := fmt.Errorf("starting: %w", &errorA{"Size", "must be positive"})
	if !errors.Is(err, errA) {
		t.Error("errors.Is does not match the kind's sentinel")
	}
	if errors.Is(err, errB) {
		t.Error("errors.Is matches the sentinel of another kind")
	}
}

func TestKindsAreDistinctTypes(t *testing.T) {
	err := fmt.Errorf("starting: %w", &errorB{"Addr", "missing"})
	var a *errorA
	if errors.As(err, &a) {
		t.Fatal("errors.As matched an error of another kind")
	}
	var b *errorB
	if !errors.As(err, &b) || b.Field != "Addr" {
		t.Fatalf("errors.As = %v, want the error of its own kind", b)
	}
}
