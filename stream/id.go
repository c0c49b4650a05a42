package stream

import (
	"cmp"
	"math"
	"strconv"
	"strings"
)

// ID is a parsed frame id: a Redis Stream entry id, "<milliseconds>-<sequence>". Ids order a
// job's frames; a client resumes after the id it saw last.
type ID struct{ ms, seq uint64 }

// ParseID is the one parser of frame ids. It reads "<ms>-<seq>" (full) or "<ms>" (sequence 0),
// both decimal 64-bit unsigned without sign, spaces or leading "0x"; "" is 0-0, before every
// frame. Ids that travel (pub/sub messages, SSE event ids, Last-Event-ID) are always full; the
// short forms are what a range query may start from.
func ParseID(s string) (id ID, full, ok bool) {
	if s == "" {
		return ID{}, false, true
	}
	msPart, seqPart, full := strings.Cut(s, "-")
	ms, ok := parseDecimal(msPart)
	if !ok {
		return ID{}, false, false
	}
	var seq uint64
	if full {
		if seq, ok = parseDecimal(seqPart); !ok {
			return ID{}, false, false
		}
	}
	return ID{ms, seq}, full, true
}

// parseDecimal accepts only ASCII digits (no sign, no spaces, no "0x"), within 64 bits.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// Next is the smallest id after id; false for the largest id.
func (id ID) Next() (ID, bool) {
	switch {
	case id.seq < math.MaxUint64:
		return ID{id.ms, id.seq + 1}, true
	case id.ms < math.MaxUint64:
		return ID{id.ms + 1, 0}, true
	}
	return ID{}, false
}

// String is the full form, "<ms>-<seq>".
func (id ID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

// Compare orders ids by milliseconds, then sequence number: -1 when id is before o, 0 when they
// are the same, +1 when id is after o.
func (id ID) Compare(o ID) int {
	if id.ms != o.ms {
		return cmp.Compare(id.ms, o.ms)
	}
	return cmp.Compare(id.seq, o.seq)
}

// CompareIDs orders two frame ids as ParseID reads them: -1 when a is before b, 0 when they are
// the same frame, +1 when a is after b. "" and "0" stand for 0-0, before every frame; "5" stands
// for 5-0. A malformed id sorts before every well-formed one, and two malformed ids compare as
// strings.
func CompareIDs(a, b string) int {
	ia, _, oka := ParseID(a)
	ib, _, okb := ParseID(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return -1
	case !okb:
		return 1
	}
	return ia.Compare(ib)
}
