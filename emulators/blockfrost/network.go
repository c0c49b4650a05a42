package blockfrostemu

import (
	"fmt"
	"strings"
)

// Network is the Cardano network one emulator instance serves.
type Network string

// The networks Blockfrost serves for Cardano.
const (
	Mainnet Network = "mainnet"
	Preprod Network = "preprod"
	Preview Network = "preview"
)

// ParseNetwork accepts "mainnet", "preprod" or "preview" (case-insensitive).
func ParseNetwork(s string) (Network, error) {
	n := Network(strings.ToLower(strings.TrimSpace(s)))
	if _, err := paramsFor(n); err != nil {
		return "", err
	}
	return n, nil
}

// netParams are the public facts of each network's time line (genesis files) plus the fixed
// tip the data set is built against.
type netParams struct {
	networkID byte // low nibble of address headers: 1 mainnet, 0 test networks

	systemStart      int64 // Byron genesis start, UNIX seconds
	byronSlotSeconds int64
	shelleySlot      int64 // first Shelley slot
	shelleyTime      int64 // its UNIX time
	shelleyEpoch     int64 // its epoch number
	byronEpochLength int64
	epochLength      int64 // Shelley epochs (slot length 1 s)

	// The default tip (when the chain is not live): a realistic point in 2025.
	tipSlot   int64
	tipHeight int64
}

var networks = map[Network]netParams{
	// Mainnet: Byron from 2017-09-23T21:44:51Z, 20 s slots, 21600-slot epochs; Shelley from
	// slot 4492800 (epoch 208, 2020-07-29T21:44:51Z), 1 s slots, 432000-slot epochs.
	Mainnet: {networkID: 1, systemStart: 1506203091, byronSlotSeconds: 20, shelleySlot: 4492800,
		shelleyTime: 1596059091, shelleyEpoch: 208, byronEpochLength: 21600, epochLength: 432000,
		tipSlot: 150_000_000, tipHeight: 11_600_000},
	// Preprod: start 2022-06-01T00:00:00Z, four Byron epochs (86400 slots of 20 s), Shelley from
	// slot 86400 (epoch 4), 432000-slot epochs.
	Preprod: {networkID: 0, systemStart: 1654041600, byronSlotSeconds: 20, shelleySlot: 86400,
		shelleyTime: 1655769600, shelleyEpoch: 4, byronEpochLength: 21600, epochLength: 432000,
		tipSlot: 85_000_000, tipHeight: 3_300_000},
	// Preview: start 2022-10-25T00:00:00Z, no Byron blocks, 86400-slot epochs.
	Preview: {networkID: 0, systemStart: 1666656000, byronSlotSeconds: 20, shelleySlot: 0,
		shelleyTime: 1666656000, shelleyEpoch: 0, byronEpochLength: 21600, epochLength: 86400,
		tipSlot: 75_000_000, tipHeight: 3_100_000},
}

func paramsFor(n Network) (netParams, error) {
	p, ok := networks[n]
	if !ok {
		return netParams{}, fmt.Errorf("blockfrostemu: unknown network %q (want mainnet, preprod or preview)", string(n))
	}
	return p, nil
}

func (p netParams) addrHRP() string {
	if p.networkID == 1 {
		return "addr"
	}
	return "addr_test"
}

// slotTime is the UNIX time of a slot.
func (p netParams) slotTime(slot int64) int64 {
	if slot < p.shelleySlot {
		return p.systemStart + slot*p.byronSlotSeconds
	}
	return p.shelleyTime + (slot - p.shelleySlot)
}

// timeSlot is the slot in progress at UNIX time t (Shelley era).
func (p netParams) timeSlot(t int64) int64 {
	if t < p.shelleyTime {
		return (t - p.systemStart) / p.byronSlotSeconds
	}
	return p.shelleySlot + (t - p.shelleyTime)
}

// epochOf returns the epoch of a slot and the slot's position within it.
func (p netParams) epochOf(slot int64) (epoch, epochSlot int64) {
	if slot < p.shelleySlot {
		return slot / p.byronEpochLength, slot % p.byronEpochLength
	}
	d := slot - p.shelleySlot
	return p.shelleyEpoch + d/p.epochLength, d % p.epochLength
}
