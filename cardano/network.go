package cardano

import (
	"fmt"
	"strings"
	"time"
)

// Network is a Cardano network the service runs on. This file is the one place that knows the
// networks' names and what follows from a name: the chain names clients use, the network tag of
// its addresses, and where its Shelley era starts.
type Network string

// The networks.
const (
	Mainnet Network = "mainnet"
	Preprod Network = "preprod"
	Preview Network = "preview"
)

// shelleyStarts are each network's first Shelley slot and its UNIX time (genesis files); from
// there a slot lasts one second.
var shelleyStarts = map[Network][2]int64{
	Mainnet: {4492800, 1596059091},
	Preprod: {86400, 1655769600},
	Preview: {0, 1666656000},
}

// ParseNetwork accepts a network's name as configured: "mainnet", "preprod" or "preview".
func ParseNetwork(s string) (Network, error) {
	if _, ok := shelleyStarts[Network(s)]; !ok {
		return "", fmt.Errorf("cardano: unknown network %q (want mainnet, preprod or preview)", s)
	}
	return Network(s), nil
}

// ParseChain reads a chain name, in any case: "cardano-preprod" (the chain of our 402 answers)
// or CAIP-2 "cardano:preprod".
func ParseChain(s string) (Network, bool) {
	s = strings.ToLower(s)
	for _, prefix := range []string{"cardano-", "cardano:"} {
		if name, ok := strings.CutPrefix(s, prefix); ok {
			n, err := ParseNetwork(name)
			return n, err == nil
		}
	}
	return "", false
}

func (n Network) String() string { return string(n) }

// Chain is the network's chain name in 402 answers and invoices: "cardano-mainnet".
func (n Network) Chain() string { return "cardano-" + string(n) }

// CAIP2 is the network's CAIP-2 chain id: "cardano:mainnet".
func (n Network) CAIP2() string { return "cardano:" + string(n) }

// AnalysisName is how token analyses name the network: "cardano" for mainnet, else its Chain.
func (n Network) AnalysisName() string {
	if n == Mainnet {
		return "cardano"
	}
	return n.Chain()
}

// AddressNetwork is the network tag of the network's Shelley addresses: NetworkMainnet, or
// NetworkTestnet for both test networks (their addresses are alike).
func (n Network) AddressNetwork() int {
	if n == Mainnet {
		return NetworkMainnet
	}
	return NetworkTestnet
}

// Owns reports whether a is an address of this network (by its network tag).
func (n Network) Owns(a Address) bool { return a.Network == n.AddressNetwork() }

// SlotAt is the slot of time t on the network (t within the Shelley era or later); false for an
// unknown network.
func (n Network) SlotAt(t time.Time) (uint64, bool) {
	p, ok := shelleyStarts[n]
	if !ok {
		return 0, false
	}
	return uint64(p[0] + t.Unix() - p[1]), true
}
