package main

import (
	"fmt"

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
	if t.ratio <= 0 {
		return cfg, &usageError{fmt.Errorf("--trace-sample-ratio must be in (0, 1], got %v", t.ratio)}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &usageError{fmt.Errorf("--trace-exporter/--trace-sample-ratio: %w", err)}
	}
	return cfg, nil
}
