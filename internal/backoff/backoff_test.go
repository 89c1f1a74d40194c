package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"actorlog/internal/backoff"
)

const ms = time.Millisecond

func TestDelayDoublesUpToTheCap(t *testing.T) {
	p := backoff.Policy{Min: 5 * ms, Max: time.Second}
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}
	for i, w := range want {
		if got := p.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := p.Delay(0); got != 5*ms {
		t.Errorf("Delay(0) = %v, want Min", got)
	}
	if got := p.Delay(1 << 30); got != time.Second {
		t.Errorf("Delay of a huge retry number = %v, want Max", got)
	}
}

func TestDelayNeverOverflows(t *testing.T) {
	p := backoff.Policy{Min: time.Nanosecond, Max: time.Duration(1<<63 - 1)}
	for _, n := range []int{62, 63, 64, 100, 1 << 20} {
		if got := p.Delay(n); got <= 0 {
			t.Fatalf("Delay(%d) = %v, want positive", n, got)
		}
	}
}

func TestJitterStaysInTheUpperHalf(t *testing.T) {
	p := backoff.Policy{Min: 100 * ms, Max: 800 * ms, Jitter: true}
	for n, ceil := range []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 800 * ms} {
		for range 200 {
			if got := p.Delay(n + 1); got < ceil/2 || got >= ceil {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v)", n+1, got, ceil/2, ceil)
			}
		}
	}
	// A wait too short to halve is kept.
	one := backoff.Policy{Min: 1, Max: 1, Jitter: true}
	if got := one.Delay(3); got != 1 {
		t.Errorf("Delay with a 1ns cap = %v, want 1ns", got)
	}
}

func TestBackoffNextAndReset(t *testing.T) {
	b := backoff.New(backoff.Policy{Min: 100 * ms, Max: 800 * ms, Jitter: true})
	for _, ceil := range []time.Duration{100, 200, 400, 800, 800, 800} {
		ceil *= ms
		if got := b.Next(); got < ceil/2 || got >= ceil {
			t.Fatalf("Next = %v, want in [%v, %v)", got, ceil/2, ceil)
		}
	}
	b.Reset()
	if got := b.Next(); got >= 100*ms {
		t.Errorf("Next after Reset = %v, want below Min", got)
	}
	exact := backoff.New(backoff.Policy{Min: 200 * ms, Max: 5 * time.Second})
	for range 1000 {
		exact.Next()
	}
	if got := exact.Next(); got != 5*time.Second {
		t.Errorf("Next after many retries = %v, want Max", got)
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	if !backoff.Sleep(context.Background(), ms) {
		t.Fatal("Sleep with a live context reported false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	if !backoff.Sleep(ctx, 0) {
		t.Fatal("Sleep(0) with a live context reported false")
	}
	cancel()
	start := time.Now()
	if backoff.Sleep(ctx, time.Hour) {
		t.Fatal("Sleep with an ended context reported true")
	}
	if backoff.Sleep(ctx, 0) {
		t.Fatal("Sleep(0) with an ended context reported true")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("Sleep did not return when its context ended")
	}
}

func TestSleepOrStopEndsWhenStopCloses(t *testing.T) {
	stop := make(chan struct{})
	if !backoff.SleepOrStop(stop, ms) || !backoff.SleepOrStop(stop, 0) {
		t.Fatal("SleepOrStop with stop open reported false")
	}
	close(stop)
	if backoff.SleepOrStop(stop, time.Hour) || backoff.SleepOrStop(stop, 0) {
		t.Fatal("SleepOrStop with stop closed reported true")
	}
}

func TestRetryUntilSuccess(t *testing.T) {
	calls, failures := 0, 0
	err := backoff.Retry(make(chan struct{}), backoff.Policy{Min: time.Microsecond, Max: 10 * time.Microsecond},
		func() error {
			calls++
			if calls < 4 {
				return errors.New("not yet")
			}
			return nil
		},
		func(error) { failures++ })
	if err != nil || calls != 4 || failures != 3 {
		t.Fatalf("Retry = %v after %d calls and %d failures, want nil after 4 and 3", err, calls, failures)
	}
}

func TestRetryReturnsTheLastErrorWhenStopped(t *testing.T) {
	stop := make(chan struct{})
	errBusy := errors.New("busy")
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- backoff.Retry(stop, backoff.Policy{Min: time.Hour, Max: time.Hour}, func() error {
			calls++
			return errBusy
		}, nil)
	}()
	close(stop)
	select {
	case err := <-done:
		if !errors.Is(err, errBusy) || calls != 1 {
			t.Fatalf("Retry = %v after %d calls, want the op's error after 1", err, calls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Retry did not return when stop closed")
	}
}
