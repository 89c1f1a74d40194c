package client

import (
	"crypto/tls"
	"sync"

	"github.com/sirupsen/logrus"
)

// Clients in one process share their actor system and listener when their
// transport settings are equal.
//
// Why: protoactor's Remote.Start sets gRPC's process-wide logger, a plain
// global that gRPC reads whenever a connection is dialled or accepted. A
// second remote starting while a first one is dialling is a data race (the
// race detector reports it, and it is one). Sharing one remote per process
// keeps that write to the start of the first client. It also saves a
// listener and a connection per node for every extra Client.
//
// The shared transport lives while any Client uses it; the last Close shuts
// it down, so no goroutine outlives its owners.

type transportKey struct {
	listen, advertised string
	maxMessageBytes    int
	writerBatch        int
	logger             *logrus.Logger
	tls                *tls.Config
}

type sharedTransport struct {
	t    *transport
	refs int
}

var shared = struct {
	mu sync.Mutex
	m  map[transportKey]*sharedTransport
}{m: make(map[transportKey]*sharedTransport)}

// acquireTransport returns the process's transport for cfg, starting it when
// no Client uses one yet. The caller must call release exactly once.
func acquireTransport(cfg Config, logger *logrus.Logger, log *logrus.Entry) (t *transport, release func(), err error) {
	key := transportKey{
		listen:          cfg.ListenAddr,
		advertised:      cfg.AdvertisedAddr,
		maxMessageBytes: cfg.MaxMessageBytes,
		writerBatch:     cfg.EndpointWriterBatchSize,
		logger:          logger,
		tls:             cfg.TLS,
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	st := shared.m[key]
	if st == nil {
		t, err := newTransport(cfg, log)
		if err != nil {
			return nil, nil, err
		}
		st = &sharedTransport{t: t}
		shared.m[key] = st
	}
	st.refs++
	var once sync.Once
	return st.t, func() {
		once.Do(func() {
			shared.mu.Lock()
			defer shared.mu.Unlock()
			st.refs--
			if st.refs == 0 {
				delete(shared.m, key)
				// Closing under the lock: a Client created meanwhile
				// must not start a second remote before this one is
				// gone.
				st.t.close()
			}
		})
	}, nil
}
