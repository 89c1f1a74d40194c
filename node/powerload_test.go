package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// powerLoad produces through a node's HTTP API from several writers until
// the power goes, for the power-loss specs. Only what a client heard
// before the power went counts as acknowledged.
type powerLoad struct {
	offAt atomic.Pointer[time.Time]
	stop  atomic.Bool
	wg    sync.WaitGroup
	acks  atomic.Int64
	mu    sync.Mutex // serialises onAck
}

// startPowerLoad starts writers that post perRequest records at a time to
// base. onAck gets each acknowledged request's offsets, values and the time
// the client heard of it, one call at a time.
func startPowerLoad(base string, round, writers, perRequest int, onAck func(offs []uint64, vals []string, at time.Time)) *powerLoad {
	l := &powerLoad{}
	for w := 0; w < writers; w++ {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			for i := 0; !l.stop.Load(); i++ {
				vals := make([]string, perRequest)
				recs := make([]string, perRequest)
				for k := range vals {
					vals[k] = fmt.Sprintf("r%d-w%d-%d-%c", round, w, i, 'a'+k)
					recs[k] = fmt.Sprintf(`{"value":%q}`, base64.StdEncoding.EncodeToString([]byte(vals[k])))
				}
				body := `{"records":[` + strings.Join(recs, ",") + `]}`
				resp, err := httpClient.Post(base+"/v1/records", "application/json", bytes.NewBufferString(body))
				if err != nil {
					continue
				}
				var out struct{ Offsets []uint64 }
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				received := time.Now()
				if resp.StatusCode != http.StatusOK || len(out.Offsets) != perRequest {
					continue
				}
				if t := l.offAt.Load(); t != nil && !received.Before(*t) {
					continue // after the power went: the client never heard it
				}
				l.mu.Lock()
				onAck(out.Offsets, vals, received)
				l.mu.Unlock()
				l.acks.Add(1)
			}
		}(w)
	}
	return l
}

// acked is how many requests were acknowledged so far.
func (l *powerLoad) acked() int64 { return l.acks.Load() }

// powerOff marks the moment the power goes and returns it.
func (l *powerLoad) powerOff() time.Time {
	now := time.Now()
	l.offAt.Store(&now)
	return now
}

// finish stops the writers, waits for them, and returns how many requests
// were acknowledged before the power went.
func (l *powerLoad) finish() int {
	l.stop.Store(true)
	l.wg.Wait()
	return int(l.acks.Load())
}
