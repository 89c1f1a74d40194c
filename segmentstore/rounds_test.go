//go:build !faults

package segmentstore_test

// powerLossRounds is how many simulated power losses each policy goes
// through in `make test`; `make faults` (build tag faults) runs more.
const powerLossRounds = 5
