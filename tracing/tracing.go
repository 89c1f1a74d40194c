package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Exporters Config.Exporter accepts.
const (
	// ExporterNone turns tracing off (the default; "" means the same).
	ExporterNone = "none"
	// ExporterStdout writes every finished span as JSON to Config.Stdout,
	// for development.
	ExporterStdout = "stdout"
	// ExporterOTLP sends spans to an OpenTelemetry collector over OTLP/HTTP
	// (protobuf).
	ExporterOTLP = "otlp"
)

// Defaults of Config.
const (
	// DefaultServiceName is the service.name resource attribute.
	DefaultServiceName = "actorlog"
	// DefaultOTLPEndpoint is the OTLP/HTTP port of a collector on this
	// host, the port the OpenTelemetry collector listens on by default.
	DefaultOTLPEndpoint = "localhost:4318"
	// DefaultSampleRatio traces every request that does not arrive with a
	// sampling decision of its own.
	DefaultSampleRatio = 1.0
)

// InstrumentationName names the tracers of every actorlog component.
const InstrumentationName = "actorlog"

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("tracing: invalid config")

// Config selects the exporter. The zero Config turns tracing off.
type Config struct {
	// Exporter is "" or ExporterNone (off), ExporterStdout or ExporterOTLP.
	Exporter string
	// OTLPEndpoint is where ExporterOTLP sends spans: "host:port" (plain
	// HTTP) or a URL ("https://collector:4318/v1/traces"). Default
	// DefaultOTLPEndpoint.
	OTLPEndpoint string
	// ServiceName is the service.name resource attribute. Default
	// DefaultServiceName.
	ServiceName string
	// InstanceID, when set, is the service.instance.id resource attribute
	// (a node sets its id), so spans of the nodes of one cluster can be
	// told apart.
	InstanceID string
	// SampleRatio is the fraction of new traces recorded, in (0, 1]. A
	// request that arrives with a trace context follows the sampling
	// decision of its caller. Zero means DefaultSampleRatio; to record
	// nothing, leave tracing off.
	SampleRatio float64
	// Stdout receives the spans of ExporterStdout. Nil means os.Stdout.
	Stdout io.Writer
}

// Enabled reports whether cfg turns tracing on.
func (c Config) Enabled() bool { return c.Exporter != "" && c.Exporter != ExporterNone }

// Validate reports the first bad field, wrapped around ErrInvalidConfig.
func (c Config) Validate() error {
	switch c.Exporter {
	case "", ExporterNone, ExporterStdout, ExporterOTLP:
	default:
		return fmt.Errorf("%w: Exporter: %q is not one of none, stdout, otlp", ErrInvalidConfig, c.Exporter)
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("%w: SampleRatio: %v is not in (0, 1]", ErrInvalidConfig, c.SampleRatio)
	}
	return nil
}

// Setup builds the tracer provider cfg asks for. When tracing is off it
// returns a no-op provider (Enabled reports false for it) and a shutdown
// that does nothing. Otherwise spans are batched and exported in the
// background; shutdown flushes what is buffered and stops the exporter, and
// must be called once, when the provider's users have stopped.
func Setup(cfg Config) (trace.TracerProvider, func(context.Context) error, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if !cfg.Enabled() {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = DefaultServiceName
	}
	if cfg.OTLPEndpoint == "" {
		cfg.OTLPEndpoint = DefaultOTLPEndpoint
	}
	if cfg.SampleRatio == 0 {
		cfg.SampleRatio = DefaultSampleRatio
	}

	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch cfg.Exporter {
	case ExporterStdout:
		w := cfg.Stdout
		if w == nil {
			w = os.Stdout
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	case ExporterOTLP:
		var opts []otlptracehttp.Option
		if strings.Contains(cfg.OTLPEndpoint, "://") {
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.OTLPEndpoint))
		} else {
			// host:port: plain HTTP, as to the collector on this host.
			opts = append(opts, otlptracehttp.WithEndpoint(cfg.OTLPEndpoint), otlptracehttp.WithInsecure())
		}
		// New only builds the client: nothing is dialled until the
		// first batch of spans is exported.
		exp, err = otlptracehttp.New(context.Background(), opts...)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %s exporter: %w", cfg.Exporter, err)
	}

	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if cfg.InstanceID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.InstanceID))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return tp, tp.Shutdown, nil
}

// Enabled reports whether tp can record spans: false for nil and for the
// no-op provider. Components check it once, at start, and skip all tracing
// work when it is false.
func Enabled(tp trace.TracerProvider) bool {
	if tp == nil {
		return false
	}
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return false
	}
	return true
}

// Tracer returns actorlog's tracer of tp; a nil tp gives a no-op tracer.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(InstrumentationName)
}
