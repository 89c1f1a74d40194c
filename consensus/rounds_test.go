//go:build !faults

package consensus_test

// powerLossRounds is how many power losses of the whole cluster a spec
// runs in `make test`; `make faults` (build tag faults) runs more.
const powerLossRounds = 5
