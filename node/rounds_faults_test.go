//go:build faults

package node

// powerLossRounds under `make faults`.
const powerLossRounds = 50
