package blockfrostemu

import (
	"encoding/hex"
	"strconv"

	"github.com/tbackend/tbackend/cardano"
)

// Builders of the data set's native scripts (cardano.Script encodes and hashes them).

func sig(keyHash []byte) cardano.Script {
	return cardano.Script{Type: cardano.ScriptSig, KeyHash: hex.EncodeToString(keyHash)}
}

// before is valid only in slots < slot; after only in slots ≥ slot.
func before(slot int64) cardano.Script {
	return cardano.Script{Type: cardano.ScriptBefore, Slot: uint64(slot)}
}
func after(slot int64) cardano.Script {
	return cardano.Script{Type: cardano.ScriptAfter, Slot: uint64(slot)}
}

func all(s ...cardano.Script) cardano.Script {
	return cardano.Script{Type: cardano.ScriptAll, Scripts: s}
}
func anyOf(s ...cardano.Script) cardano.Script {
	return cardano.Script{Type: cardano.ScriptAny, Scripts: s}
}

func atLeast(k int, s ...cardano.Script) cardano.Script {
	return cardano.Script{Type: cardano.ScriptAtLeast, Required: k, Scripts: s}
}

// scriptRec is a script known to the chain.
type scriptRec struct {
	hash   string
	typ    string          // timelock, plutusV1, plutusV2, plutusV3
	native *cardano.Script // timelock only
	size   int             // serialised size of Plutus scripts
}

// scriptRecOf describes a script a transaction reveals.
func scriptRecOf(s cardano.TxScript) *scriptRec {
	if s.Language == cardano.LanguageNative {
		return &scriptRec{hash: s.Hash(), typ: "timelock", native: s.Native}
	}
	return &scriptRec{hash: s.Hash(), typ: "plutusV" + strconv.Itoa(int(s.Language)), size: len(s.Bytes)}
}

// plutusScriptHash hashes a Plutus script of the given version (1–3), in hex.
func plutusScriptHash(version byte, script []byte) string {
	return hex.EncodeToString(cardano.ScriptHash(version, script))
}
