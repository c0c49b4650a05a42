package openaiemu_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/tbackend/tbackend/internal/testfiles"
)

// An excerpt of the published OpenAPI document of the real API (the component schemas below and
// what they reference, unchanged; testdata/specs at the repository root, origin and regeneration
// in testdata/README.md); every body the emulator sends is validated against its schemas.
const specURL = "file:///openai.json"

var spec struct {
	once     sync.Once
	err      error
	compiler *jsonschema.Compiler

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
}

func loadSpec(t testing.TB) {
	t.Helper()
	path := testfiles.Path(t, "specs", "openai-openapi.yaml")
	spec.once.Do(func() {
		raw, err := os.ReadFile(path)
		if err != nil {
			spec.err = err
			return
		}
		var doc any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			spec.err = err
			return
		}
		doc = openAPINullable(doc)
		j, err := json.Marshal(doc)
		if err != nil {
			spec.err = err
			return
		}
		jdoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			spec.err = err
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource(specURL, jdoc); err != nil {
			spec.err = err
			return
		}
		spec.compiler, spec.schemas = c, map[string]*jsonschema.Schema{}
	})
	if errors.Is(spec.err, os.ErrNotExist) {
		t.Fatalf("the OpenAI OpenAPI document is missing: want it at %s (tracked in the repository; see testdata/README.md)", path)
	}
	if spec.err != nil {
		t.Fatalf("loading %s: %v", path, spec.err)
	}
}

// openAPINullable rewrites OpenAPI's `nullable: true` (which the 3.1 document still uses in
// places and JSON Schema ignores) into its meaning: {"anyOf": [schema, {"type": "null"}]}.
func openAPINullable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			v[k] = openAPINullable(c)
		}
		if n, ok := v["nullable"].(bool); ok && n {
			inner := make(map[string]any, len(v))
			for k, c := range v {
				if k != "nullable" {
					inner[k] = c
				}
			}
			return map[string]any{"anyOf": []any{inner, map[string]any{"type": "null"}}}
		}
		return v
	case []any:
		for i, c := range v {
			v[i] = openAPINullable(c)
		}
		return v
	}
	return v
}

// schemaFor compiles #/components/schemas/<name>.
func schemaFor(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	loadSpec(t)
	spec.mu.Lock()
	defer spec.mu.Unlock()
	if s, ok := spec.schemas[name]; ok {
		return s
	}
	s, err := spec.compiler.Compile(specURL + "#/components/schemas/" + name)
	if err != nil {
		t.Fatalf("compile schema %s: %v", name, err)
	}
	spec.schemas[name] = s
	return s
}

// validate checks a JSON body against a component schema of the published spec.
func validate(t testing.TB, name string, body []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", name, err, body)
	}
	if err := schemaFor(t, name).Validate(inst); err != nil {
		t.Fatalf("%s: body does not match the spec: %v\n%s", name, err, body)
	}
}

// The validator itself must reject what the spec forbids, or the tests above prove nothing.
func TestSpecValidatorRejects(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"CreateChatCompletionResponse":       `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"user","content":"x","refusal":null},"logprobs":null,"finish_reason":"stop"}]}`,
		"CreateChatCompletionStreamResponse": `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}`,
		"ErrorResponse":                      `{"error":{"message":"x","type":"t"}}`,
		"ImagesResponse":                     `{"data":[]}`,
	}
	for name, body := range bad {
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(body)))
		if err := schemaFor(t, name).Validate(inst); err == nil {
			t.Errorf("%s accepted an invalid body: %s", name, body)
		}
	}
	// usage: null is valid in a chunk (nullable), and a missing finish_reason is not.
	validate(t, "CreateChatCompletionStreamResponse", []byte(`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":null}],"usage":null}`))
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{}}]}`)))
	if schemaFor(t, "CreateChatCompletionStreamResponse").Validate(inst) == nil {
		t.Error("chunk without finish_reason accepted")
	}
}
