package main

import (
	"context"
	"fmt"
	"os"

	"actorlog/client"
	"actorlog/tracing"
	"github.com/spf13/pflag"
)

// traceFlags select an OpenTelemetry exporter (see the tracing package).
type traceFlags struct {
	exporter string
	endpoint string
	ratio    float64
}

func (t *traceFlags) register(f *pflag.FlagSet) {
	f.StringVar(&t.exporter, "trace-exporter", tracing.ExporterNone,
		"where spans go: none (tracing off), stdout (JSON, for development) or otlp (a collector over OTLP/HTTP)")
	f.StringVar(&t.endpoint, "trace-otlp-endpoint", tracing.DefaultOTLPEndpoint,
		"the collector of --trace-exporter otlp: host:port (plain HTTP) or a URL such as https://collector:4318/v1/traces")
	f.Float64Var(&t.ratio, "trace-sample-ratio", tracing.DefaultSampleRatio,
		"fraction of new traces recorded, in (0, 1]; a request with a trace context follows its caller's decision")
}

func (t *traceFlags) config() (tracing.Config, error) {
	cfg := tracing.Config{Exporter: t.exporter, OTLPEndpoint: t.endpoint, SampleRatio: t.ratio}
	if !cfg.Enabled() {
		return tracing.Config{}, nil
	}
	if t.ratio <= 0 {
		return cfg, &usageError{fmt.Errorf("--trace-sample-ratio must be in (0, 1], got %v", t.ratio)}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &usageError{fmt.Errorf("--trace-exporter/--trace-sample-ratio: %w", err)}
	}
	return cfg, nil
}

// setupTracing gives a client command's Config the tracer provider of its
// trace flags (none when tracing is off or the command has no such flags).
func (f *clientFlags) setupTracing(cfg *client.Config) error {
	tcfg, err := f.trace.config()
	if err != nil || !tcfg.Enabled() {
		return err
	}
	tcfg.ServiceName = "actorlog-cli"
	// Standard output is the command's own (offsets, records).
	tcfg.Stdout = os.Stderr
	tp, shutdown, err := tracing.Setup(tcfg)
	if err != nil {
		return &usageError{err}
	}
	cfg.TracerProvider, f.flushTrace = tp, shutdown
	return nil
}

// closeClient closes c, then exports the spans still buffered, within
// --timeout (a collector that does not answer delays the exit by that
// much at most).
func (f *clientFlags) closeClient(c *client.Client) {
	_ = c.Close()
	if f.flushTrace == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	if err := f.flushTrace(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "actorlog: exporting spans:", err)
	}
}
