package openaiemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // image formats the vision input accepts
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxCompletionTokens is the completion limit of every emulated chat model.
const maxCompletionTokens = 16384

var chatRoles = []string{"system", "assistant", "user", "function", "tool", "developer"}

var partTypes = []string{"text", "image_url", "input_audio", "refusal", "audio", "file"}

type streamOptions struct {
	IncludeUsage       *bool `json:"include_usage"`
	IncludeObfuscation *bool `json:"include_obfuscation"`
}

type responseFormat struct {
	Type       *string `json:"type"`
	JSONSchema *struct {
		Name   *string         `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict *bool           `json:"strict"`
	} `json:"json_schema"`
}

type chatRequest struct {
	Model               *string            `json:"model"`
	Messages            *[]json.RawMessage `json:"messages"`
	Stream              *bool              `json:"stream"`
	StreamOptions       *streamOptions     `json:"stream_options"`
	Temperature         *float64           `json:"temperature"`
	TopP                *float64           `json:"top_p"`
	N                   *int               `json:"n"`
	MaxTokens           *int               `json:"max_tokens"`
	MaxCompletionTokens *int               `json:"max_completion_tokens"`
	PresencePenalty     *float64           `json:"presence_penalty"`
	FrequencyPenalty    *float64           `json:"frequency_penalty"`
	Logprobs            *bool              `json:"logprobs"`
	TopLogprobs         *int               `json:"top_logprobs"`
	ResponseFormat      *responseFormat    `json:"response_format"`
	Stop                json.RawMessage    `json:"stop"`
	ServiceTier         *string            `json:"service_tier"`
}

type chatMessage struct {
	Role      *string         `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls"`
	Function  json.RawMessage `json:"function_call"`
}

type contentPart struct {
	Type     *string `json:"type"`
	Text     *string `json:"text"`
	ImageURL *struct {
		URL    *string `json:"url"`
		Detail *string `json:"detail"`
	} `json:"image_url"`
}

// parsedMessage is what the emulator keeps of one request message.
type parsedMessage struct {
	role   string
	texts  []string
	images int
}

// chatPlan is a validated request reduced to what the answer needs.
type chatPlan struct {
	model       string
	n           int
	stream      bool
	usageChunk  bool
	obfuscate   bool
	logprobs    bool
	topLogprobs int
	limit       int // completion token limit, 0 = none
	stops       []string
	format      string          // "", "text", "json_object", "json_schema"
	schema      json.RawMessage // json_schema's schema
	tier        string
	messages    []parsedMessage
}

func (e *Emulator) chatCompletions(w http.ResponseWriter, r *http.Request) {
	body, f, ok := e.beginJSON(w, r, EndpointChatCompletions, true)
	if !ok {
		return
	}
	var req chatRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	plan, aerr := e.planChat(&req)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	ans := plan.answer(f.Kind == FaultContentPolicy)
	if plan.stream {
		e.stream(w, r, f, ans.chunks(plan))
		return
	}
	e.finish(w, r, f, ans.completion(plan))
}

// planChat validates a request like the real API and reduces it to a chatPlan.
func (e *Emulator) planChat(req *chatRequest) (*chatPlan, *apiError) {
	if req.Model == nil || *req.Model == "" {
		return nil, invalidRequest("", "", "you must provide a model parameter")
	}
	if req.Messages == nil {
		return nil, errMissing("messages")
	}
	if len(*req.Messages) == 0 {
		return nil, invalidRequest("messages", "empty_array",
			"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	p := &chatPlan{model: *req.Model, n: 1, obfuscate: true}
	for i, raw := range *req.Messages {
		m, aerr := parseMessage(i, raw)
		if aerr != nil {
			return nil, aerr
		}
		p.messages = append(p.messages, m)
	}
	if v := req.Temperature; v != nil {
		if aerr := decRange("temperature", *v, 0, 2); aerr != nil {
			return nil, aerr
		}
	}
	if v := req.TopP; v != nil {
		if aerr := decRange("top_p", *v, 0, 1); aerr != nil {
			return nil, aerr
		}
	}
	if v := req.PresencePenalty; v != nil {
		if aerr := decRange("presence_penalty", *v, -2, 2); aerr != nil {
			return nil, aerr
		}
	}
	if v := req.FrequencyPenalty; v != nil {
		if aerr := decRange("frequency_penalty", *v, -2, 2); aerr != nil {
			return nil, aerr
		}
	}
	if v := req.N; v != nil {
		if aerr := intRange("n", *v, 1, 128); aerr != nil {
			return nil, aerr
		}
		p.n = *v
	}
	p.logprobs = req.Logprobs != nil && *req.Logprobs
	if v := req.TopLogprobs; v != nil {
		if aerr := intRange("top_logprobs", *v, 0, 20); aerr != nil {
			return nil, aerr
		}
		if !p.logprobs && *v > 0 {
			return nil, invalidRequest("top_logprobs", "invalid_value",
				"Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.")
		}
		p.topLogprobs = *v
	}
	for _, lim := range []struct {
		name string
		v    *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if lim.v == nil {
			continue
		}
		if *lim.v < 1 {
			return nil, errIntBelowMin(lim.name, 1, *lim.v)
		}
		if *lim.v > maxCompletionTokens {
			return nil, invalidRequest(lim.name, "invalid_value",
				"%s is too large: %d. This model supports at most %d completion tokens, whereas you provided %d.",
				lim.name, *lim.v, maxCompletionTokens, *lim.v)
		}
		p.limit = *lim.v // max_completion_tokens, checked last, wins
	}
	stops, aerr := parseStop(req.Stop)
	if aerr != nil {
		return nil, aerr
	}
	p.stops = stops
	p.stream = req.Stream != nil && *req.Stream
	if req.StreamOptions != nil {
		if !p.stream {
			return nil, invalidRequest("stream_options", "invalid_value",
				"The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		p.usageChunk = req.StreamOptions.IncludeUsage != nil && *req.StreamOptions.IncludeUsage
		if v := req.StreamOptions.IncludeObfuscation; v != nil && !*v {
			p.obfuscate = false
		}
	}
	p.tier = "default"
	if v := req.ServiceTier; v != nil {
		switch *v {
		case "auto", "default":
		case "flex", "scale", "priority":
			p.tier = *v
		case "fast":
			p.tier = "priority"
		default:
			return nil, errInvalidValue("service_tier", *v, "auto", "default", "flex", "scale", "priority", "fast")
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		if rf.Type == nil {
			return nil, errMissing("response_format.type")
		}
		switch *rf.Type {
		case "text", "json_object":
		case "json_schema":
			if rf.JSONSchema == nil {
				return nil, errMissing("response_format.json_schema")
			}
			if rf.JSONSchema.Name == nil {
				return nil, errMissing("response_format.json_schema.name")
			}
			p.schema = rf.JSONSchema.Schema
		default:
			return nil, errInvalidValue("response_format.type", *rf.Type, "json_object", "json_schema", "text")
		}
		p.format = *rf.Type
	}
	if !e.hasModel(p.model) {
		return nil, errModelNotFound(p.model)
	}
	if imageFamily(p.model) != "" {
		return nil, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model",
			Message: "This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use v1/completions?"}
	}
	if p.format == "json_object" && !p.mentionsJSON() {
		return nil, invalidRequest("messages", "",
			"'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.")
	}
	return p, nil
}

func decRange(param string, v, lo, hi float64) *apiError {
	if v < lo {
		return errDecBelowMin(param, lo, v)
	}
	if v > hi {
		return errDecAboveMax(param, hi, v)
	}
	return nil
}

func intRange(param string, v, lo, hi int) *apiError {
	if v < lo {
		return errIntBelowMin(param, lo, v)
	}
	if v > hi {
		return errIntAboveMax(param, hi, v)
	}
	return nil
}

func parseStop(raw json.RawMessage) ([]string, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return nil, errInvalidType("stop", "one of a string or array of strings", jsonKindOf(raw))
	}
	if len(many) > 4 {
		return nil, errArrayTooLong("stop", 4, len(many))
	}
	return many, nil
}

func jsonKindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case '{':
		return "an object"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(raw, ".eE") {
		return "a decimal"
	}
	return "an integer"
}

func parseMessage(i int, raw json.RawMessage) (parsedMessage, *apiError) {
	path := fmt.Sprintf("messages[%d]", i)
	var m chatMessage
	if aerr := decodeJSONAt(raw, &m, path); aerr != nil {
		return parsedMessage{}, aerr
	}
	if m.Role == nil {
		return parsedMessage{}, errMissing(path + ".role")
	}
	role := *m.Role
	if !slices.Contains(chatRoles, role) {
		return parsedMessage{}, errInvalidValue(path+".role", role, chatRoles...)
	}
	pm := parsedMessage{role: role}
	content := bytes.TrimSpace(m.Content)
	switch {
	case len(content) == 0 || string(content) == "null":
		if role != "assistant" || (len(m.ToolCalls) == 0 && len(m.Function) == 0) {
			return parsedMessage{}, errMissing(path + ".content")
		}
	case content[0] == '"':
		var s string
		_ = json.Unmarshal(content, &s)
		pm.texts = append(pm.texts, s)
	case content[0] == '[':
		var parts []json.RawMessage
		if err := json.Unmarshal(content, &parts); err != nil {
			return parsedMessage{}, errInvalidType(path+".content", "one of a string or array of objects", jsonKindOf(content))
		}
		for j, praw := range parts {
			if aerr := parsePart(&pm, fmt.Sprintf("%s.content[%d]", path, j), praw); aerr != nil {
				return parsedMessage{}, aerr
			}
		}
	default:
		return parsedMessage{}, errInvalidType(path+".content", "one of a string or array of objects", jsonKindOf(content))
	}
	return pm, nil
}

func parsePart(pm *parsedMessage, path string, raw json.RawMessage) *apiError {
	var part contentPart
	if aerr := decodeJSONAt(raw, &part, path); aerr != nil {
		return aerr
	}
	if part.Type == nil {
		return errMissing(path + ".type")
	}
	switch *part.Type {
	case "text", "refusal":
		if *part.Type == "refusal" {
			return nil
		}
		if part.Text == nil {
			return errMissing(path + ".text")
		}
		pm.texts = append(pm.texts, *part.Text)
	case "image_url":
		if pm.role != "user" {
			return invalidRequest(path+".type", "invalid_value",
				"Invalid '%s': image_url is only supported for messages with role 'user', but this message has role '%s'.", path+".type", pm.role)
		}
		if part.ImageURL == nil {
			return errMissing(path + ".image_url")
		}
		if part.ImageURL.URL == nil {
			return errMissing(path + ".image_url.url")
		}
		if d := part.ImageURL.Detail; d != nil && !slices.Contains([]string{"auto", "low", "high"}, *d) {
			return errInvalidValue(path+".image_url.detail", *d, "auto", "low", "high")
		}
		if aerr := checkImageURL(path+".image_url.url", *part.ImageURL.URL); aerr != nil {
			return aerr
		}
		pm.images++
	case "input_audio", "audio", "file":
		// Accepted and ignored: the emulator only reads text and images.
	default:
		return errInvalidValue(path+".type", *part.Type, partTypes...)
	}
	return nil
}

var visionMIMEs = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// checkImageURL accepts http(s) URLs (not fetched) and data URLs holding a real image.
func checkImageURL(param, u string) *apiError {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return nil
	}
	bad := func(got string) *apiError {
		return invalidRequest(param, "invalid_value",
			"Invalid image URL: '%s'. Expected a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got %s.", param, got)
	}
	if !strings.HasPrefix(u, "data:") {
		return bad("a value without the 'data:' prefix")
	}
	meta, payload, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return bad("a value that is not base64-encoded")
	}
	mime := strings.ToLower(strings.TrimSuffix(meta, ";base64"))
	if i := strings.IndexByte(mime, ';'); i >= 0 {
		mime = mime[:i]
	}
	if !slices.Contains(visionMIMEs, mime) {
		return bad(fmt.Sprintf("unsupported MIME type '%s'", mime))
	}
	if payload == "" {
		return bad("empty base64-encoded bytes")
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return bad("invalid base64-encoded bytes")
	}
	if !isImage(data) {
		return invalidRequest("", "invalid_image_format", "You uploaded an unsupported image. Please make sure your image is valid.")
	}
	return nil
}

// isImage reports whether data is a PNG, JPEG or GIF the standard library decodes, or a WebP
// (recognised by its RIFF header only).
func isImage(data []byte) bool {
	if len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP" {
		return true
	}
	_, _, err := image.DecodeConfig(bytes.NewReader(data))
	return err == nil
}

func (p *chatPlan) mentionsJSON() bool {
	for _, m := range p.messages {
		for _, t := range m.texts {
			if strings.Contains(strings.ToLower(t), "json") {
				return true
			}
		}
	}
	return false
}

// lastUser returns the text (parts joined by a space, fault directives removed) and the image
// count of the last user message.
func (p *chatPlan) lastUser() (string, int) {
	for i := len(p.messages) - 1; i >= 0; i-- {
		m := p.messages[i]
		if m.role != "user" {
			continue
		}
		texts := make([]string, 0, len(m.texts))
		for _, t := range m.texts {
			clean, _, _ := extractDirective(t)
			texts = append(texts, clean)
		}
		return strings.TrimSpace(strings.Join(texts, " ")), m.images
	}
	return "", 0
}

func (p *chatPlan) promptTokens() int {
	n := 3
	for _, m := range p.messages {
		n += 3 + ImageTokens*m.images
		for _, t := range m.texts {
			clean, _, _ := extractDirective(t)
			n += CountTokens(clean)
		}
	}
	return n
}

// chatAnswer is the generated reply shared by the streamed and non-streamed shapes.
type chatAnswer struct {
	id, fingerprint string
	created         int64
	tokens          []string
	refusal         bool
	finish          string
	prompt          int
}

func (p *chatPlan) answer(refuse bool) *chatAnswer {
	a := &chatAnswer{
		id:          "chatcmpl-" + randomID(29),
		fingerprint: fingerprint(p.model),
		created:     time.Now().Unix(),
		refusal:     refuse,
		finish:      "stop",
		prompt:      p.promptTokens(),
	}
	text, images := p.lastUser()
	var full string
	switch {
	case refuse:
		full = RefusalText
	case p.format == "json_object" || (p.format == "json_schema" && len(p.schema) == 0):
		full = jsonReply(text, images)
	case p.format == "json_schema":
		full = schemaReply(p.schema, text, images)
	default:
		full = Reply(text, images)
	}
	if !refuse {
		for _, s := range p.stops {
			if i := strings.Index(full, s); s != "" && i >= 0 {
				full = full[:i]
			}
		}
	}
	a.tokens = Tokens(full)
	if p.limit > 0 && len(a.tokens) > p.limit {
		a.tokens, a.finish = a.tokens[:p.limit], "length"
	}
	return a
}

// jsonReply is the JSON-mode content: {"echo": text, "words": N[, "images": M]}.
func jsonReply(text string, images int) string {
	b, _ := json.Marshal(struct {
		Echo   string `json:"echo"`
		Words  int    `json:"words"`
		Images int    `json:"images,omitempty"`
	}{text, len(strings.Fields(text)), images})
	return string(b)
}

// schemaReply builds a value of the json_schema: strings echo the text, numbers count its
// words, booleans are true, arrays hold one item, enums and consts take their first value.
func schemaReply(raw json.RawMessage, text string, images int) string {
	var schema any
	if json.Unmarshal(raw, &schema) != nil {
		return jsonReply(text, images)
	}
	v := fillSchema(schema, schema, text, len(strings.Fields(text)), 0)
	b, err := json.Marshal(v)
	if err != nil {
		return jsonReply(text, images)
	}
	return string(b)
}

func fillSchema(s, root any, text string, words, depth int) any {
	m, ok := s.(map[string]any)
	if !ok || depth > 12 {
		return text
	}
	if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#/") {
		var cur any = root
		for _, seg := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cm, ok := cur.(map[string]any)
			if !ok {
				return text
			}
			cur = cm[strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")]
		}
		return fillSchema(cur, root, text, words, depth+1)
	}
	if c, ok := m["const"]; ok {
		return c
	}
	if enum, ok := m["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if opts, ok := m[k].([]any); ok && len(opts) > 0 {
			return fillSchema(opts[0], root, text, words, depth+1)
		}
	}
	typ, _ := m["type"].(string)
	if types, ok := m["type"].([]any); ok {
		for _, t := range types {
			if ts, _ := t.(string); ts != "null" {
				typ = ts
				break
			}
		}
	}
	if typ == "" && m["properties"] != nil {
		typ = "object"
	}
	switch typ {
	case "object":
		out := map[string]any{}
		props, _ := m["properties"].(map[string]any)
		for k, ps := range props {
			out[k] = fillSchema(ps, root, text, words, depth+1)
		}
		return out
	case "array":
		return []any{fillSchema(m["items"], root, text, words, depth+1)}
	case "integer", "number":
		return words
	case "boolean":
		return true
	case "null":
		return nil
	}
	return text
}

func fingerprint(model string) string {
	sum := sha256.Sum256([]byte(model))
	return "fp_" + hex.EncodeToString(sum[:5])
}

// ---- answer shapes ----

type usageDetailsPrompt struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type usageDetailsCompletion struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

type chatUsage struct {
	PromptTokens            int                    `json:"prompt_tokens"`
	CompletionTokens        int                    `json:"completion_tokens"`
	TotalTokens             int                    `json:"total_tokens"`
	PromptTokensDetails     usageDetailsPrompt     `json:"prompt_tokens_details"`
	CompletionTokensDetails usageDetailsCompletion `json:"completion_tokens_details"`
}

func (a *chatAnswer) usage(n int) chatUsage {
	c := len(a.tokens) * n
	return chatUsage{PromptTokens: a.prompt, CompletionTokens: c, TotalTokens: a.prompt + c}
}

type outMessage struct {
	Role        string  `json:"role"`
	Content     *string `json:"content"`
	Refusal     *string `json:"refusal"`
	Annotations []any   `json:"annotations"`
}

type topLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type tokenLogprob struct {
	topLogprob
	TopLogprobs []topLogprob `json:"top_logprobs"`
}

type choiceLogprobs struct {
	Content []tokenLogprob `json:"content"`
	Refusal []tokenLogprob `json:"refusal"`
}

type completionChoice struct {
	Index        int             `json:"index"`
	Message      outMessage      `json:"message"`
	Logprobs     *choiceLogprobs `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type chatCompletion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []completionChoice `json:"choices"`
	Usage             chatUsage          `json:"usage"`
	ServiceTier       string             `json:"service_tier"`
	SystemFingerprint string             `json:"system_fingerprint"`
}

// logprobsFor gives each token a fixed log probability and top alternatives.
func logprobsFor(tokens []string, top int) []tokenLogprob {
	out := make([]tokenLogprob, 0, len(tokens))
	for _, t := range tokens {
		lp := tokenLogprob{topLogprob: topLogprob{Token: t, Logprob: -0.0001, Bytes: byteInts(t)}, TopLogprobs: []topLogprob{}}
		for k := range top {
			alt := topLogprob{Token: t, Logprob: -0.0001, Bytes: byteInts(t)}
			if k > 0 {
				alt.Token = fmt.Sprintf("%s#%d", strings.TrimSpace(t), k)
				alt.Logprob = -10 - float64(k)
				alt.Bytes = byteInts(alt.Token)
			}
			lp.TopLogprobs = append(lp.TopLogprobs, alt)
		}
		out = append(out, lp)
	}
	return out
}

func byteInts(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

func (a *chatAnswer) completion(p *chatPlan) chatCompletion {
	text := strings.Join(a.tokens, "")
	c := chatCompletion{ID: a.id, Object: "chat.completion", Created: a.created, Model: p.model,
		Usage: a.usage(p.n), ServiceTier: p.tier, SystemFingerprint: a.fingerprint}
	for i := range p.n {
		msg := outMessage{Role: "assistant", Content: &text, Annotations: []any{}}
		var lps *choiceLogprobs
		if a.refusal {
			msg.Content, msg.Refusal = nil, &text
		}
		if p.logprobs {
			lps = &choiceLogprobs{Content: logprobsFor(a.tokens, p.topLogprobs)}
			if a.refusal {
				lps.Content, lps.Refusal = nil, lps.Content
			}
		}
		c.Choices = append(c.Choices, completionChoice{Index: i, Message: msg, Logprobs: lps, FinishReason: a.finish})
	}
	return c
}

type chunkDelta struct {
	Role    string          `json:"role,omitempty"`
	Content json.RawMessage `json:"content,omitempty"`
	Refusal json.RawMessage `json:"refusal,omitempty"`
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        chunkDelta      `json:"delta"`
	Logprobs     *choiceLogprobs `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type chatChunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	ServiceTier       string          `json:"service_tier"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []chunkChoice   `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"`
	Obfuscation       string          `json:"obfuscation,omitempty"`
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// chunks renders the stream's data events, in order, without the final [DONE].
func (a *chatAnswer) chunks(p *chatPlan) [][]byte {
	var out [][]byte
	emit := func(choices []chunkChoice, usage json.RawMessage) {
		c := chatChunk{ID: a.id, Object: "chat.completion.chunk", Created: a.created, Model: p.model,
			ServiceTier: p.tier, SystemFingerprint: a.fingerprint, Choices: choices, Usage: usage}
		if p.usageChunk && usage == nil {
			c.Usage = json.RawMessage("null")
		}
		if p.obfuscate {
			c.Obfuscation = obfuscation(len(out))
		}
		b, _ := json.Marshal(c)
		out = append(out, b)
	}
	for i := range p.n {
		emit([]chunkChoice{{Index: i, Delta: chunkDelta{Role: "assistant", Content: jsonString(""), Refusal: json.RawMessage("null")}}}, nil)
	}
	for _, t := range a.tokens {
		for i := range p.n {
			d := chunkDelta{Content: jsonString(t)}
			var lps *choiceLogprobs
			if p.logprobs {
				lps = &choiceLogprobs{Content: logprobsFor([]string{t}, p.topLogprobs)}
			}
			if a.refusal {
				d = chunkDelta{Refusal: jsonString(t)}
				if lps != nil {
					lps.Content, lps.Refusal = nil, lps.Content
				}
			}
			emit([]chunkChoice{{Index: i, Delta: d, Logprobs: lps}}, nil)
		}
	}
	for i := range p.n {
		finish := a.finish
		emit([]chunkChoice{{Index: i, Delta: chunkDelta{}, FinishReason: &finish}}, nil)
	}
	if p.usageChunk {
		u, _ := json.Marshal(a.usage(p.n))
		emit([]chunkChoice{}, u)
	}
	return out
}

// obfuscation is a short, deterministic stand-in for the real API's random padding.
func obfuscation(i int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	n := 2 + i%9
	b := make([]byte, n)
	for k := range b {
		b[k] = letters[(i*31+k*17)%len(letters)]
	}
	return string(b)
}
