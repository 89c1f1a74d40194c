package segmentstore

import (
	"sync"
	"time"
)

// syncer runs fn every interval on one goroutine until stop. stop is
// idempotent and returns only once the goroutine has exited, so no fsync
// can run after its owner has closed its files.
type syncer struct {
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func startSyncer(interval time.Duration, fn func()) *syncer {
	y := &syncer{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(y.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-y.quit:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return y
}

func (y *syncer) stop() {
	y.once.Do(func() { close(y.quit) })
	<-y.done
}
