package tokenanalysis

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/tbackend/tbackend/jobs"
)

// v1Answer is the version 1 answer of the T API guide.
type v1Answer struct {
	Token       string    `json:"token"`
	Network     string    `json:"network"`
	Analysis    string    `json:"analysis"`
	RiskLevel   string    `json:"riskLevel"`
	MarketData  v1Market  `json:"marketData"`
	DataQuality v1Quality `json:"dataQuality"`
	// AnalysisSource says who wrote Analysis: "llm", or "deterministic" when the model failed.
	AnalysisSource string `json:"analysisSource"`
}

// v1Market holds what the chain can tell about the market. Prices, capitalisation, volume and
// liquidity need a market data source we do not have: they are always null, never guessed.
type v1Market struct {
	PriceUSD     *float64 `json:"priceUsd"`
	MarketCapUSD *float64 `json:"marketCapUsd"`
	Volume24hUSD *float64 `json:"volume24hUsd"`
	LiquidityUSD *float64 `json:"liquidityUsd"`
	Supply       string   `json:"supply"`
	Decimals     *int     `json:"decimals"`
	HolderCount  *int     `json:"holderCount"`
}

type v1Quality struct {
	Coverage    float64  `json:"coverage"`
	SourcesUsed []string `json:"sourcesUsed"`
}

const narrativeSystem = "You are a careful Cardano token analyst. Write a plain-text analysis of " +
	"120 to 200 words for an investor, using ONLY the facts in the JSON the user sends. Never state " +
	"a price, market capitalisation, volume, liquidity or any number that is not in the facts. When " +
	"holders.complete is false, say the holder figures are partial. Explain the minting policy lock, " +
	"holder concentration, activity and the risk flags. No markdown, no headings."

func (h *Job) v1(ctx context.Context, in jobs.TokenAnalysisPayload, f Facts) v1Answer {
	out := v1Answer{
		Token: in.Token, Network: in.Network, RiskLevel: f.RiskEngine.RiskLevel,
		MarketData:  v1Market{Supply: f.Asset.Supply, Decimals: f.Asset.Decimals},
		DataQuality: v1Quality{Coverage: f.DataQuality.Coverage, SourcesUsed: f.DataQuality.SourcesUsed},
	}
	if f.Holders.Complete {
		n := f.Holders.HolderCount
		out.MarketData.HolderCount = &n
	}
	text, err := h.narrate(ctx, in.Token, f)
	if err == nil {
		out.Analysis, out.AnalysisSource = text, "llm"
		return out
	}
	h.log().Warn("token narrative fell back to the deterministic summary", "error", err)
	out.Analysis, out.AnalysisSource = Summary(in.Token, in.Network, f), "deterministic"
	return out
}

// narrate asks the LLM to write the analysis from the facts alone.
func (h *Job) narrate(ctx context.Context, token string, f Facts) (string, error) {
	if h.LLM == nil {
		return "", fmt.Errorf("no LLM configured")
	}
	// The registry logo is a base64 image: thousands of tokens the narrative cannot use.
	if f.Asset.Registry != nil && f.Asset.Registry.Logo != "" {
		reg := *f.Asset.Registry
		reg.Logo = ""
		f.Asset.Registry = &reg
	}
	facts, err := json.Marshal(struct {
		Token string `json:"token"`
		Facts
	}{token, f})
	if err != nil {
		return "", err
	}
	limit := h.Narrative
	if limit <= 0 {
		limit = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	resp, err := h.LLM.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: h.Model,
		//lint:ignore SA1019 max_tokens is what every OpenAI-compatible provider takes (see workers/chat.go)
		MaxTokens: 600,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: narrativeSystem},
			{Role: openai.ChatMessageRoleUser, Content: string(facts)},
		},
	})
	if err != nil {
		return "", err
	}
	if len(resp.Choices) == 0 || strings.TrimSpace(resp.Choices[0].Message.Content) == "" {
		return "", fmt.Errorf("the model returned no text")
	}
	return strings.TrimSpace(resp.Choices[0].Message.Content), nil
}

// Summary is the deterministic analysis: the same facts always give the same text.
func Summary(token, network string, f Facts) string {
	var b strings.Builder
	name := token
	if f.Asset.Registry != nil && f.Asset.Registry.Name != "" {
		name = f.Asset.Registry.Name
		if f.Asset.Registry.Ticker != "" {
			name += " (" + f.Asset.Registry.Ticker + ")"
		}
	}
	fmt.Fprintf(&b, "%s on %s, policy %s, total supply %s base units", name, network, f.Asset.PolicyID, f.Asset.Supply)
	if f.Asset.Decimals != nil {
		fmt.Fprintf(&b, " with %d decimals", *f.Asset.Decimals)
	}
	b.WriteString(". ")
	b.WriteString(policySentence(f.Policy))
	b.WriteString(holdersSentence(f))
	b.WriteString(activitySentence(f.Activity))
	fmt.Fprintf(&b, "Risk: %s (score %.2f of 1, confidence %.2f)", f.RiskEngine.RiskLevel,
		f.RiskEngine.OverallScore, f.RiskEngine.Confidence)
	var flags []string
	for _, fl := range f.RiskEngine.Flags {
		if fl.Level != "info" {
			flags = append(flags, fl.Evidence)
		}
	}
	if len(flags) > 0 {
		b.WriteString(": " + strings.Join(flags, "; "))
	}
	b.WriteString(". Market prices are not part of this analysis.")
	return b.String()
}

func policySentence(p PolicyFacts) string {
	switch {
	case p.Locked == nil:
		return fmt.Sprintf("Whether more can be minted cannot be told (%s policy). ", p.ScriptType)
	case !*p.Locked && p.LockedUntil != nil:
		return fmt.Sprintf("The minting policy is open again since slot %d: more can be minted. ", p.LockedUntil.Slot)
	case !*p.Locked:
		return "The minting policy is open: more can be minted at any time. "
	case p.LockedUntil != nil:
		return fmt.Sprintf("The minting policy is time-locked until slot %d%s. ", p.LockedUntil.Slot, when(p.LockedUntil.Time))
	case p.LockedSince != nil:
		return fmt.Sprintf("The minting policy is closed since slot %d%s: the supply is fixed. ", p.LockedSince.Slot, when(p.LockedSince.Time))
	}
	return "The minting policy cannot mint now. "
}

func when(t *time.Time) string {
	if t == nil {
		return ""
	}
	return " (" + t.UTC().Format("2006-01-02 15:04 UTC") + ")"
}

func holdersSentence(f Facts) string {
	h := f.Holders
	if !h.Complete {
		return fmt.Sprintf("At least %d holders were seen in a partial scan (%d addresses read); concentration figures need the full list and are not given. ",
			h.HolderCount, f.DataQuality.HoldersScan.HoldersRead)
	}
	s := fmt.Sprintf("%d holders (%d by stake credential)", h.HolderCount, h.StakeHolderCount)
	if h.Top10Pct != nil {
		s += fmt.Sprintf("; the largest 10 hold %.2f%% of the supply", *h.Top10Pct)
	}
	if h.ScriptAddressPct != nil && *h.ScriptAddressPct > 0 {
		s += fmt.Sprintf(", %.2f%% sits at script addresses", *h.ScriptAddressPct)
	}
	return s + ". "
}

func activitySentence(a ActivityFacts) string {
	if a.LastTxTime == nil {
		return "Recent activity is unknown. "
	}
	s := "Last transaction " + a.LastTxTime.UTC().Format("2006-01-02 15:04 UTC")
	if a.Tx24h != nil && a.Tx7d != nil {
		s += fmt.Sprintf(", %d in the last 24 hours and %d in 7 days", *a.Tx24h, *a.Tx7d)
	}
	return s + ". "
}
