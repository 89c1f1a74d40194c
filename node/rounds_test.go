//go:build !faults

package node

// powerLossRounds is how many simulated power losses a node spec runs in
// `make test`; `make faults` (build tag faults) runs more.
const powerLossRounds = 5
