package stream_test

import (
	"testing"

	"github.com/tbackend/tbackend/stream"
)

const maxID = "18446744073709551615-18446744073709551615"

func TestParseID(t *testing.T) {
	cases := []struct {
		in       string
		ok, full bool
		want     string // String() of the parsed id
	}{
		{"", true, false, "0-0"},
		{"0", true, false, "0-0"},
		{"5", true, false, "5-0"},
		{"1700000000000-0", true, true, "1700000000000-0"},
		{"007-01", true, true, "7-1"},
		{maxID, true, true, maxID},
		{"18446744073709551616-0", false, false, ""}, // overflow
		{"1-18446744073709551616", false, false, ""},
		{"000000000000000000001-0", false, false, ""}, // more than 20 digits
		{"-1", false, false, ""},
		{"1-", false, false, ""},
		{"1-0-0", false, false, ""},
		{"+1-0", false, false, ""},
		{" 1-0", false, false, ""},
		{"1-0\r", false, false, ""},
		{"0x1-0", false, false, ""},
		{"abc", false, false, ""},
	}
	for _, c := range cases {
		id, full, ok := stream.ParseID(c.in)
		if ok != c.ok || full != c.full || ok && id.String() != c.want {
			t.Errorf("ParseID(%q) = %v, full %v, ok %v; want %s, full %v, ok %v", c.in, id, full, ok, c.want, c.full, c.ok)
		}
	}
}

func TestIDNext(t *testing.T) {
	cases := []struct{ in, want string }{
		{"0-0", "0-1"},
		{"5-9", "5-10"},
		{"5-18446744073709551615", "6-0"},
	}
	for _, c := range cases {
		id, _, _ := stream.ParseID(c.in)
		next, ok := id.Next()
		if !ok || next.String() != c.want || next.Compare(id) != 1 {
			t.Errorf("%s.Next() = %s, %v; want %s", c.in, next, ok, c.want)
		}
	}
	last, _, _ := stream.ParseID(maxID)
	if _, ok := last.Next(); ok {
		t.Errorf("the largest id has a next one")
	}
}

func TestCompareIDs(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1-0", "1-0", 0},
		{"1-0", "1-1", -1},
		{"1-1", "1-0", 1},
		{"2-0", "1-99", 1},
		{"9-0", "10-0", -1}, // numeric, not lexical
		{"1700000000000-9", "1700000000000-10", -1},
		{"1700000000001-0", "1700000000000-999", 1},
		{"", "", 0},
		{"", "0", 0},
		{"0", "0-0", 0},
		{"", "0-1", -1},
		{"5", "5-0", 0},
		{"5", "5-1", -1},
		{"007-1", "7-1", 0},
		{maxID, "18446744073709551615-18446744073709551614", 1},
		{maxID, "18446744073709551614-18446744073709551615", 1},
		{maxID, maxID, 0},
		// Malformed ids sort before every well-formed one, and among themselves as strings.
		{"abc", "", -1},
		{"0-0", "abc", 1},
		{"1-x", "1-0", -1},
		{"18446744073709551616-0", "0-1", -1},
		{"abc", "abd", -1},
		{"abc", "abc", 0},
	}
	for _, c := range cases {
		if got := stream.CompareIDs(c.a, c.b); got != c.want {
			t.Errorf("CompareIDs(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := stream.CompareIDs(c.b, c.a); got != -c.want {
			t.Errorf("CompareIDs(%q, %q) = %d, want %d (antisymmetry)", c.b, c.a, got, -c.want)
		}
	}
}

// BenchmarkCompareIDs is the relay's per-frame check that a live frame was not written yet.
func BenchmarkCompareIDs(b *testing.B) {
	for b.Loop() {
		if stream.CompareIDs("1700000000000-42", "1700000000000-41") <= 0 {
			b.Fatal("out of order")
		}
	}
}
