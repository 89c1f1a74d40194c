package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"

	"github.com/spf13/cobra"
)

// benchProfiles are the client-side profiles a bench run can write, for
// `go tool pprof` and `go tool trace`. They cover the whole command,
// connecting included.
type benchProfiles struct {
	cpu, mem, trace string
}

func (p *benchProfiles) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of this client to the file")
	f.StringVar(&p.mem, "memprofile", "", "write an allocation profile (every allocation, sampled as usual) of this client to the file at the end")
	f.StringVar(&p.trace, "trace", "", "write an execution trace of this client to the file (go tool trace)")
}

// start begins the profiles that were asked for; the returned stop ends
// them and writes the files, and reports the first failure.
func (p *benchProfiles) start() (stop func() error, err error) {
	var stops []func() error
	stopAll := func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	if p.cpu != "" {
		f, err := os.Create(p.cpu)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		stops = append(stops, func() error { pprof.StopCPUProfile(); return f.Close() })
	}
	if p.trace != "" {
		f, err := os.Create(p.trace)
		if err != nil {
			_ = stopAll()
			return nil, fmt.Errorf("--trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			_ = f.Close()
			_ = stopAll()
			return nil, fmt.Errorf("--trace: %w", err)
		}
		stops = append(stops, func() error { trace.Stop(); return f.Close() })
	}
	if p.mem != "" {
		path := p.mem
		stops = append(stops, func() error {
			f, err := os.Create(path)
			if err != nil {
				return fmt.Errorf("--memprofile: %w", err)
			}
			// "allocs" holds every allocation since the start, not only
			// what is live now, which is what a per-record cost needs.
			runtime.GC()
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			return errors.Join(err, f.Close())
		})
	}
	return stopAll, nil
}
