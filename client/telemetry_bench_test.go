package client

import (
	"context"
	"testing"

	"actorlog/tracing"
)

// BenchmarkTelemetryOff is what tracing and metrics cost a request when
// neither is configured: the span and histogram hooks around an operation
// and the header check before each send.
func BenchmarkTelemetryOff(b *testing.B) {
	tel, err := newTelemetry(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		octx, o := tel.begin(ctx, opProduce)
		if tracing.Headers(octx) != nil {
			b.Fatal("headers with tracing off")
		}
		tel.end(o, nil)
	}
}
