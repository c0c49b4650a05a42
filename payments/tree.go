package payments

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The file is first decoded into a generic tree (YAML and JSON alike), then read field by field
// here, so that every error names the exact field it is about.

// object reads a mapping and rejects keys outside known.
func object(path string, v any, known ...string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if _, anyKeys := v.(map[any]any); anyKeys {
			return nil, cfgErr(path, "keys must be strings")
		}
		return nil, cfgErr(path, "want a mapping, got %s", describe(v))
	}
	if known == nil {
		return m, nil
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, cfgErr(path, "unknown field %q (known fields: %s)", unknown[0], strings.Join(known, ", "))
	}
	return m, nil
}

func str(path string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", cfgErr(path, "want a string, got %s", describe(v))
	}
	return strings.TrimSpace(s), nil
}

// whole reads a non-negative whole number. YAML gives int/uint64, JSON gives json.Number.
func whole(path string, v any) (uint64, error) {
	switch n := v.(type) {
	case int:
		if n >= 0 {
			return uint64(n), nil
		}
	case int64:
		if n >= 0 {
			return uint64(n), nil
		}
	case uint64:
		return n, nil
	case json.Number:
		if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
			return u, nil
		}
	case float64:
		if n >= 0 && n == math.Trunc(n) && n < 1<<53 {
			return uint64(n), nil
		}
	}
	return 0, cfgErr(path, "want a whole number ≥ 0, got %s", describe(v))
}

// bounded reads a whole number in [lo, hi].
func bounded(path string, v any, lo, hi int) (int, error) {
	u, err := whole(path, v)
	if err != nil || u < uint64(lo) || u > uint64(hi) {
		return 0, cfgErr(path, "want a whole number from %d to %d, got %s", lo, hi, describe(v))
	}
	return int(u), nil
}

func boolean(path string, v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, cfgErr(path, "want true or false, got %s", describe(v))
	}
	return b, nil
}

// duration reads "300s"/"5m" or a number of seconds.
func duration(path string, v any) (time.Duration, error) {
	if s, ok := v.(string); ok {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, cfgErr(path, "want a duration such as 300s or 5m, got %q", s)
		}
		return d, nil
	}
	n, err := whole(path, v)
	if err != nil || n > math.MaxInt64/uint64(time.Second) {
		return 0, cfgErr(path, "want a duration such as 300s or a number of seconds, got %s", describe(v))
	}
	return time.Duration(n) * time.Second, nil
}

// describe shows a value in an error without dumping a large structure.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(abbrev(x, 40))
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	case json.Number:
		return string(x)
	default:
		return abbrev(fmt.Sprint(x), 40)
	}
}

// abbrev shortens s to n bytes (on a rune boundary) with an ellipsis.
func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }
