package openaiemu_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/emulators/openai"
)

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role        string  `json:"role"`
			Content     *string `json:"content"`
			Refusal     *string `json:"refusal"`
			Annotations []any   `json:"annotations"`
		} `json:"message"`
		Logprobs *struct {
			Content []struct {
				Token       string `json:"token"`
				TopLogprobs []any  `json:"top_logprobs"`
			} `json:"content"`
		} `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	ServiceTier       string `json:"service_tier"`
	SystemFingerprint string `json:"system_fingerprint"`
}

// chat posts a chat completion that must succeed and match the spec.
func (h *harness) chat(body map[string]any, hdr map[string]string) (completion, response) {
	h.t.Helper()
	r := h.postJSON("/chat/completions", body, hdr)
	if r.status != http.StatusOK {
		h.t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		h.t.Errorf("Content-Type %q", ct)
	}
	validate(h.t, "CreateChatCompletionResponse", r.body)
	var c completion
	if err := json.Unmarshal(r.body, &c); err != nil {
		h.t.Fatal(err)
	}
	return c, r
}

func content(t *testing.T, c completion, i int) string {
	t.Helper()
	if len(c.Choices) <= i || c.Choices[i].Message.Content == nil {
		t.Fatalf("no content in choice %d: %+v", i, c.Choices)
	}
	return *c.Choices[i].Message.Content
}

func TestChatCompletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, r := h.chat(chatBody("gpt-4o-mini",
		map[string]any{"role": "system", "content": "You are terse."},
		userMsg("Hello there")), nil)

	want := openaiemu.Reply("Hello there", 0)
	if got := content(t, c, 0); got != want {
		t.Errorf("content %q, want %q", got, want)
	}
	if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Model != "gpt-4o-mini" || c.Created == 0 {
		t.Errorf("envelope: %+v", c)
	}
	if c.Choices[0].FinishReason != "stop" || c.Choices[0].Message.Role != "assistant" || c.Choices[0].Index != 0 {
		t.Errorf("choice: %+v", c.Choices[0])
	}
	if !strings.HasPrefix(c.SystemFingerprint, "fp_") || c.ServiceTier != "default" {
		t.Errorf("fingerprint %q tier %q", c.SystemFingerprint, c.ServiceTier)
	}
	for _, frag := range []string{`"refusal":null`, `"annotations":[]`, `"logprobs":null`,
		`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0}`,
		`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}`} {
		if !bytes.Contains(r.body, []byte(frag)) {
			t.Errorf("body lacks %s: %s", frag, r.body)
		}
	}
	wantPrompt := 3 + (3 + openaiemu.CountTokens("You are terse.")) + (3 + openaiemu.CountTokens("Hello there"))
	if c.Usage.PromptTokens != wantPrompt || c.Usage.CompletionTokens != openaiemu.CountTokens(want) ||
		c.Usage.TotalTokens != wantPrompt+openaiemu.CountTokens(want) {
		t.Errorf("usage %+v, want prompt %d completion %d", c.Usage, wantPrompt, openaiemu.CountTokens(want))
	}
	if r.header.Get("X-Request-Id") == "" || r.header.Get("X-Ratelimit-Remaining-Requests") == "" {
		t.Errorf("missing API headers: %v", r.header)
	}
	if h.emu.Requests(openaiemu.EndpointChatCompletions) != 1 {
		t.Errorf("requests %d", h.emu.Requests(openaiemu.EndpointChatCompletions))
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"Echo: hello world.", "  lead and trail  ", `{"echo":"a b","words":2}`, "héllo wörld", ""} {
		if got := strings.Join(openaiemu.Tokens(s), ""); got != s {
			t.Errorf("Tokens(%q) rejoin to %q", s, got)
		}
	}
	if got := openaiemu.Tokens("Echo: hello world."); len(got) != 5 {
		t.Errorf("Tokens: %q", got)
	}
}

func TestChatLimitsStopAndChoices(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reply := openaiemu.Reply("one two three four five", 0)
	toks := openaiemu.Tokens(reply)

	for _, field := range []string{"max_tokens", "max_completion_tokens"} {
		body := chatBody("gpt-4o-mini", userMsg("one two three four five"))
		body[field] = 3
		c, _ := h.chat(body, nil)
		if got := content(t, c, 0); got != strings.Join(toks[:3], "") || c.Choices[0].FinishReason != "length" || c.Usage.CompletionTokens != 3 {
			t.Errorf("%s: content %q finish %q usage %+v", field, got, c.Choices[0].FinishReason, c.Usage)
		}
	}

	body := chatBody("gpt-4o-mini", userMsg("one two three four five"))
	body["stop"] = []string{" four"}
	c, _ := h.chat(body, nil)
	if got := content(t, c, 0); got != "Echo: one two three" || c.Choices[0].FinishReason != "stop" {
		t.Errorf("stop: %q %q", got, c.Choices[0].FinishReason)
	}

	body = chatBody("gpt-4o-mini", userMsg("hi"))
	body["n"] = 3
	body["service_tier"] = "flex"
	c, _ = h.chat(body, nil)
	if len(c.Choices) != 3 || c.Choices[2].Index != 2 || c.Usage.CompletionTokens != 3*openaiemu.CountTokens(openaiemu.Reply("hi", 0)) || c.ServiceTier != "flex" {
		t.Errorf("n=3: %+v", c)
	}

	body = chatBody("gpt-4o-mini", userMsg("hi"))
	body["logprobs"] = true
	body["top_logprobs"] = 2
	c, _ = h.chat(body, nil)
	lp := c.Choices[0].Logprobs
	if lp == nil || len(lp.Content) != openaiemu.CountTokens(openaiemu.Reply("hi", 0)) || lp.Content[0].Token != "Echo" || len(lp.Content[0].TopLogprobs) != 2 {
		t.Errorf("logprobs: %+v", lp)
	}
}

func TestChatJSONMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := chatBody("gpt-4o-mini", map[string]any{"role": "system", "content": "Answer in JSON."}, userMsg("tell me a joke"))
	body["response_format"] = map[string]any{"type": "json_object"}
	c, _ := h.chat(body, nil)
	var obj struct {
		Echo  string `json:"echo"`
		Words int    `json:"words"`
	}
	if err := json.Unmarshal([]byte(content(t, c, 0)), &obj); err != nil || obj.Echo != "tell me a joke" || obj.Words != 4 {
		t.Errorf("json content %q: %+v %v", content(t, c, 0), obj, err)
	}

	body = chatBody("gpt-4o-mini", userMsg("tell me a joke"))
	body["response_format"] = map[string]any{"type": "json_object"}
	e := wantError(t, h.postJSON("/chat/completions", body, nil), 400, "invalid_request_error", "", "messages")
	if !strings.Contains(e["message"].(string), "must contain the word 'json'") {
		t.Errorf("message %q", e["message"])
	}

	body = chatBody("gpt-4o-mini", userMsg("describe a cat"))
	body["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{
		"name": "cat", "strict": true, "schema": map[string]any{
			"type": "object", "additionalProperties": false,
			"required": []string{"name", "legs", "cute", "tags", "kind", "owner"},
			"properties": map[string]any{
				"name":  map[string]any{"type": "string"},
				"legs":  map[string]any{"type": "integer"},
				"cute":  map[string]any{"type": "boolean"},
				"tags":  map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
				"kind":  map[string]any{"type": "string", "enum": []string{"tabby", "siamese"}},
				"owner": map[string]any{"$ref": "#/$defs/person"},
			},
			"$defs": map[string]any{"person": map[string]any{"type": "object", "properties": map[string]any{"age": map[string]any{"type": []string{"number", "null"}}}}},
		}}}
	c, _ = h.chat(body, nil)
	var cat struct {
		Name  string   `json:"name"`
		Legs  int      `json:"legs"`
		Cute  bool     `json:"cute"`
		Tags  []string `json:"tags"`
		Kind  string   `json:"kind"`
		Owner struct {
			Age float64 `json:"age"`
		} `json:"owner"`
	}
	dec := json.NewDecoder(strings.NewReader(content(t, c, 0)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cat); err != nil || cat.Name != "describe a cat" || cat.Legs != 3 || !cat.Cute || len(cat.Tags) != 1 || cat.Kind != "tabby" || cat.Owner.Age != 3 {
		t.Errorf("json_schema content %q: %+v %v", content(t, c, 0), cat, err)
	}
}

func pngBytes(t *testing.T, w, h int, alpha bool) []byte {
	t.Helper()
	var img image.Image
	if alpha {
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		m.Set(0, 0, color.NRGBA{A: 0})
		m.Set(1, 1, color.NRGBA{R: 200, A: 255})
		img = m
	} else {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = 255
		}
		img = m
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func imagePart(url string) map[string]any {
	return map[string]any{"type": "image_url", "image_url": map[string]any{"url": url, "detail": "low"}}
}

func TestChatImageInputs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes(t, 4, 4, false))
	msg := map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "text", "text": "What is in these?"},
		imagePart(dataURL),
		imagePart("https://example.com/cat.jpg"),
	}}
	c, _ := h.chat(chatBody("gpt-4o-mini", msg), nil)
	if got, want := content(t, c, 0), openaiemu.Reply("What is in these?", 2); got != want {
		t.Errorf("content %q, want %q", got, want)
	}
	if want := 3 + 3 + openaiemu.CountTokens("What is in these?") + 2*openaiemu.ImageTokens; c.Usage.PromptTokens != want {
		t.Errorf("prompt tokens %d, want %d", c.Usage.PromptTokens, want)
	}

	const param = "messages[0].content[1].image_url.url"
	for _, tc := range []struct{ url, code, param, msg string }{
		{"ftp://example.com/x.png", "invalid_value", param, "without the 'data:' prefix"},
		{"data:text/plain;base64,aGVsbG8=", "invalid_value", param, "unsupported MIME type 'text/plain'"},
		{"data:image/png;base64,", "invalid_value", param, "empty base64-encoded bytes"},
		{"data:image/png;base64,%%%not-base64", "invalid_value", param, "Expected a base64-encoded data URL"},
		{"data:image/png,rawbytes", "invalid_value", param, "Expected a base64-encoded data URL"},
		{"data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("not an image")), "invalid_image_format", "", "unsupported image"},
	} {
		bad := map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "x"}, imagePart(tc.url)}}
		e := wantError(t, h.postJSON("/chat/completions", chatBody("gpt-4o-mini", bad), nil), 400, "invalid_request_error", tc.code, tc.param)
		if !strings.Contains(e["message"].(string), tc.msg) {
			t.Errorf("%s: message %q lacks %q", tc.url, e["message"], tc.msg)
		}
	}

	bad := map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURL, "detail": "huge"}}}}
	wantError(t, h.postJSON("/chat/completions", chatBody("gpt-4o-mini", bad), nil), 400, "invalid_request_error", "invalid_value", "messages[0].content[0].image_url.detail")
	sys := map[string]any{"role": "system", "content": []any{imagePart(dataURL)}}
	wantError(t, h.postJSON("/chat/completions", chatBody("gpt-4o-mini", sys, userMsg("x")), nil), 400, "invalid_request_error", "invalid_value", "messages[0].content[0].type")
}

func TestChatValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	with := func(k string, v any) map[string]any {
		b := chatBody("gpt-4o-mini", userMsg("hi"))
		b[k] = v
		return b
	}
	for name, tc := range map[string]struct {
		body               any
		status             int
		code, param, inMsg string
	}{
		"missing model":         {map[string]any{"messages": []any{userMsg("hi")}}, 400, "", "", "you must provide a model parameter"},
		"missing messages":      {map[string]any{"model": "gpt-4o-mini"}, 400, "missing_required_parameter", "messages", "Missing required parameter: 'messages'."},
		"empty messages":        {map[string]any{"model": "gpt-4o-mini", "messages": []any{}}, 400, "empty_array", "messages", "empty array"},
		"bad role":              {chatBody("gpt-4o-mini", map[string]any{"role": "robot", "content": "x"}), 400, "invalid_value", "messages[0].role", "Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."},
		"missing role":          {chatBody("gpt-4o-mini", map[string]any{"content": "x"}), 400, "missing_required_parameter", "messages[0].role", ""},
		"missing content":       {chatBody("gpt-4o-mini", map[string]any{"role": "user"}), 400, "missing_required_parameter", "messages[0].content", ""},
		"content number":        {chatBody("gpt-4o-mini", map[string]any{"role": "user", "content": 5}), 400, "invalid_type", "messages[0].content", ""},
		"role number":           {chatBody("gpt-4o-mini", map[string]any{"role": 5, "content": "x"}), 400, "invalid_type", "messages[0].role", ""},
		"message not object":    {chatBody("gpt-4o-mini", map[string]any{"role": "user", "content": []any{"x"}}), 400, "invalid_type", "messages[0].content[0]", ""},
		"bad part type":         {chatBody("gpt-4o-mini", map[string]any{"role": "user", "content": []any{map[string]any{"type": "video"}}}), 400, "invalid_value", "messages[0].content[0].type", ""},
		"temperature high":      {with("temperature", 2.5), 400, "decimal_above_max_value", "temperature", "Expected a value <= 2, but got 2.5 instead."},
		"temperature low":       {with("temperature", -1), 400, "decimal_below_min_value", "temperature", ""},
		"temperature string":    {with("temperature", "hot"), 400, "invalid_type", "temperature", "expected a decimal, but got a string instead"},
		"top_p":                 {with("top_p", 1.5), 400, "decimal_above_max_value", "top_p", ""},
		"presence_penalty":      {with("presence_penalty", 3), 400, "decimal_above_max_value", "presence_penalty", ""},
		"n zero":                {with("n", 0), 400, "integer_below_min_value", "n", ""},
		"n large":               {with("n", 129), 400, "integer_above_max_value", "n", ""},
		"max_tokens zero":       {with("max_tokens", 0), 400, "integer_below_min_value", "max_tokens", ""},
		"max_tokens large":      {with("max_tokens", 100000), 400, "invalid_value", "max_tokens", "max_tokens is too large: 100000."},
		"stop too many":         {with("stop", []string{"a", "b", "c", "d", "e"}), 400, "array_above_max_length", "stop", ""},
		"stream_options":        {with("stream_options", map[string]any{"include_usage": true}), 400, "invalid_value", "stream_options", ""},
		"response_format":       {with("response_format", map[string]any{"type": "xml"}), 400, "invalid_value", "response_format.type", ""},
		"json_schema no schema": {with("response_format", map[string]any{"type": "json_schema"}), 400, "missing_required_parameter", "response_format.json_schema", ""},
		"top_logprobs alone":    {with("top_logprobs", 3), 400, "invalid_value", "top_logprobs", ""},
		"service_tier":          {with("service_tier", "gold"), 400, "invalid_value", "service_tier", ""},
		"unknown model":         {chatBody("gpt-9", userMsg("hi")), 404, "model_not_found", "", "The model 'gpt-9' does not exist or you do not have access to it."},
		"image model":           {chatBody("gpt-image-1", userMsg("hi")), 404, "", "model", "This is not a chat model"},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, h.postJSON("/chat/completions", tc.body, nil), tc.status, "invalid_request_error", tc.code, tc.param)
			if !strings.Contains(e["message"].(string), tc.inMsg) {
				t.Errorf("message %q lacks %q", e["message"], tc.inMsg)
			}
		})
	}
	wantError(t, h.do(http.MethodPost, "/chat/completions", "application/json", []byte(`{"model":`), nil), 400, "invalid_request_error", "", "")
}

func TestAuthModelsAndUnknownURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do(http.MethodGet, "/models", "", nil, map[string]string{"Authorization": "Bearer sk-wrong-key-1234"})
	e := wantError(t, r, 401, "invalid_request_error", "invalid_api_key", "")
	if !strings.Contains(e["message"].(string), "sk-************1234") {
		t.Errorf("message %q", e["message"])
	}
	wantError(t, h.do(http.MethodGet, "/models", "", nil, map[string]string{"Authorization": ""}), 401, "invalid_request_error", "", "")

	r = h.do(http.MethodGet, "/models", "", nil, nil)
	if r.status != 200 {
		t.Fatalf("models: %d %s", r.status, r.body)
	}
	validate(t, "ListModelsResponse", r.body)
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(r.body, &list)
	if len(list.Data) != 5 || list.Data[0].ID != "gpt-4o-mini" {
		t.Errorf("models %s", r.body)
	}
	r = h.do(http.MethodGet, "/models/dall-e-3", "", nil, nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"id":"dall-e-3"`)) {
		t.Fatalf("retrieve: %d %s", r.status, r.body)
	}
	validate(t, "Model", r.body)
	wantError(t, h.do(http.MethodGet, "/models/gpt-9", "", nil, nil), 404, "invalid_request_error", "model_not_found", "model")
	wantError(t, h.do(http.MethodPost, "/nothing/here", "", nil, nil), 404, "invalid_request_error", "unknown_url", "")
	if n := h.emu.Requests(openaiemu.EndpointModelsList); n != 1 {
		t.Errorf("models.list requests %d (401s are not counted)", n)
	}
	if n := h.emu.Requests(openaiemu.EndpointModelsRetrieve); n != 2 {
		t.Errorf("models.retrieve requests %d", n)
	}
}
