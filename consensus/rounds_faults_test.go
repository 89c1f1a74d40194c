//go:build faults

package consensus_test

// powerLossRounds under `make faults`.
const powerLossRounds = 50
