//go:build ignore

// trim writes the excerpt of a published OpenAPI document that the emulator tests validate
// against: the named component schemas and every component they reference, transitively, under
// the document's own openapi and info keys; nothing else (paths, examples of other endpoints,
// webhooks) is kept. Kept nodes are copied unchanged, in their original order, so each excerpt
// schema is the published one; a header comment records the source and the command.
//
//	go run testdata/specs/trim.go -in openapi.yaml -sha256 HEX -source TEXT -schemas A,B -out FILE
//
// The run fails when the input's sha256 differs from -sha256 (the excerpt is then of another
// version: update the README along with the hash) or when a reference cannot be resolved.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

func main() {
	in := flag.String("in", "", "the published document (YAML)")
	sum := flag.String("sha256", "", "the input's expected sha256 (hex)")
	source := flag.String("source", "", "where the input came from (repository, path, commit), for the header")
	schemas := flag.String("schemas", "", "comma-separated names under components.schemas to keep")
	out := flag.String("out", "", "the excerpt to write")
	flag.Parse()
	if *in == "" || *out == "" || *schemas == "" || *sum == "" || *source == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *sum, *source, strings.Split(*schemas, ","), *out); err != nil {
		fmt.Fprintln(os.Stderr, "trim:", err)
		os.Exit(1)
	}
}

func run(in, sum, source string, roots []string, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	if got := sha256.Sum256(raw); hex.EncodeToString(got[:]) != strings.ToLower(sum) {
		return fmt.Errorf("%s has sha256 %x, want %s", in, got, sum)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	top := doc.Content[0]
	components := get(top, "components")
	if components == nil {
		return fmt.Errorf("%s has no components", in)
	}
	kept, err := closure(components, roots)
	if err != nil {
		return err
	}
	excerpt := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range []string{"openapi", "info"} {
		if v := get(top, k); v != nil {
			excerpt.Content = append(excerpt.Content, scalar(k), v)
		}
	}
	comps := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(components.Content); i += 2 {
		kind, section := components.Content[i].Value, components.Content[i+1]
		trimmed := &yaml.Node{Kind: yaml.MappingNode}
		for j := 0; j < len(section.Content); j += 2 {
			if kept[kind+"/"+section.Content[j].Value] {
				trimmed.Content = append(trimmed.Content, section.Content[j], section.Content[j+1])
			}
		}
		if len(trimmed.Content) > 0 {
			comps.Content = append(comps.Content, scalar(kind), trimmed)
		}
	}
	excerpt.Content = append(excerpt.Content, scalar("components"), comps)
	names := make([]string, 0, len(kept))
	for n := range kept {
		names = append(names, n)
	}
	sort.Strings(names)
	excerpt.HeadComment = fmt.Sprintf("Excerpt of %s (sha256 %s), made by testdata/specs/trim.go\n"+
		"with -schemas %s: those component schemas and the %d components they reach.\n"+
		"Generated: do not edit; see testdata/README.md to regenerate.",
		source, strings.ToLower(sum), strings.Join(roots, ","), len(kept))
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{excerpt}}); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "trim: kept %d components: %s\n", len(kept), strings.Join(names, " "))
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// closure is every "kind/name" of components reachable from the root schemas through $ref.
func closure(components *yaml.Node, roots []string) (map[string]bool, error) {
	kept := map[string]bool{}
	var queue []string
	for _, r := range roots {
		queue = append(queue, "schemas/"+strings.TrimSpace(r))
	}
	for len(queue) > 0 {
		key := queue[0]
		queue = queue[1:]
		if kept[key] {
			continue
		}
		kind, name, _ := strings.Cut(key, "/")
		node := get(get(components, kind), name)
		if node == nil {
			return nil, fmt.Errorf("components/%s is referenced but not defined", key)
		}
		kept[key] = true
		refs, err := refsIn(node)
		if err != nil {
			return nil, fmt.Errorf("components/%s: %w", key, err)
		}
		queue = append(queue, refs...)
	}
	return kept, nil
}

// refsIn lists the "kind/name" of every component a node's $refs point into. A reference
// to anything but a component of this document cannot be kept and fails the run.
func refsIn(n *yaml.Node) ([]string, error) {
	var out []string
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			if n.Content[i].Value != "$ref" || n.Content[i+1].Kind != yaml.ScalarNode {
				continue
			}
			ref := n.Content[i+1].Value
			rest, ok := strings.CutPrefix(ref, "#/components/")
			parts := strings.SplitN(rest, "/", 3)
			if !ok || len(parts) < 2 {
				return nil, fmt.Errorf("unsupported $ref %q", ref)
			}
			name := strings.NewReplacer("~1", "/", "~0", "~").Replace(parts[1])
			out = append(out, parts[0]+"/"+name)
		}
	}
	for _, c := range n.Content {
		r, err := refsIn(c)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
