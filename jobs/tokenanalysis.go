package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// TypeTokenAnalysis computes the facts (and, for version 1, the narrative) of a Cardano token.
const TypeTokenAnalysis = "token:analyze"

// TokenAnalysisPayload is one token-analysis request, already validated and normalised by the api.
type TokenAnalysisPayload struct {
	Token        string `json:"token"`
	PolicyID     string `json:"policy_id,omitempty"`
	AssetNameHex string `json:"asset_name_hex,omitempty"`
	// Network is the canonical name the caller sees ("cardano", "cardano-preprod",
	// "cardano-preview"); the api accepts only the network the service is configured for.
	Network    string `json:"network"`
	APIVersion string `json:"api_version"` // "1" or "2"
	// Refresh recomputes every part instead of reusing cached ones (x-bypass-cache: 1).
	Refresh bool `json:"refresh,omitempty"`
}

// Naming is how the request names its token, independent of spelling and version: the cache
// remembers which asset a naming resolved to.
func (p TokenAnalysisPayload) Naming() string {
	return strings.Join([]string{p.Network, strings.ToLower(p.PolicyID), strings.ToLower(p.AssetNameHex),
		strings.ToLower(p.Token)}, "\x00")
}

// TokenAnalysisJobID is the job id shared by concurrent identical requests (same naming,
// version and refresh flag), so a burst of them costs one analysis. A refresh never joins an
// analysis that may reuse cached parts.
func TokenAnalysisJobID(p TokenAnalysisPayload) string {
	material := p.Naming() + "\x00" + p.APIVersion
	if p.Refresh {
		material += "\x00refresh"
	}
	sum := sha256.Sum256([]byte(material))
	return "ta-" + hex.EncodeToString(sum[:16])
}

// TokenMeta is the _meta member of a token-analysis answer: it belongs to the request being
// answered, not to the computation, so it is set when the answer is served.
type TokenMeta struct {
	RequestID  string    `json:"request_id"`
	FromCache  bool      `json:"from_cache"`
	ComputedAt time.Time `json:"computed_at"`
}

var metaMember = []byte(`,"_meta":`)

// metaTail bounds the encoded _meta member: a request id of up to 128 characters (each at most 6
// when JSON-escaped), a bool and a time.
const metaTail = 1024

// WithMeta returns body (a JSON object as encoding/json writes it) with m as its last member,
// replacing a _meta member that an earlier WithMeta put there.
func WithMeta(body []byte, m TokenMeta) []byte {
	// _meta is the last member and small: look for it only in the tail (answers run to tens of
	// kilobytes, and this runs on every cache hit).
	tail := max(0, len(body)-metaTail)
	if i := bytes.LastIndex(body[tail:], metaMember); i >= 0 {
		body = body[:tail+i]
	} else {
		body = bytes.TrimSuffix(bytes.TrimRight(body, " \n"), []byte("}"))
	}
	meta, _ := json.Marshal(m) // a struct of strings, a bool and a time: cannot fail
	member := metaMember
	if bytes.Equal(body, []byte("{")) {
		member = member[1:] // an empty object: no comma
	}
	out := make([]byte, 0, len(body)+len(member)+len(meta)+1)
	out = append(append(append(out, body...), member...), meta...)
	return append(out, '}')
}
