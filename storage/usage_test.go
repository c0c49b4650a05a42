package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

func newUsage(t testing.TB) (*storage.Usage, *redis.Client, storage.Keys) {
	t.Helper()
	rdb := redistest.Claim(t)
	keys := storage.NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))
	return storage.NewUsage(rdb, keys), rdb, keys
}

type usageRecord struct {
	key, endpoint string
	calls, tokens int64
	at            time.Time
}

func TestUsageReport(t *testing.T) {
	now := time.Date(2025, 3, 15, 10, 0, 0, 0, time.UTC)
	plus3 := time.FixedZone("UTC+3", 3*3600)
	minus5 := time.FixedZone("UTC-5", -5*3600)

	cases := []struct {
		name    string
		records []usageRecord
		key     string
		want    storage.UsageReport
	}{
		{
			name: "nothing recorded",
			key:  "key_none",
			want: storage.UsageReport{ByEndpoint: map[string]storage.Counts{}},
		},
		{
			name: "today, this month, last month",
			key:  "key_a",
			records: []usageRecord{
				{"key_a", "/chat", 1, 100, now},
				{"key_a", "/chat", 1, 50, now.Add(-9 * time.Hour)},                         // today, 01:00
				{"key_a", "/images", 2, 0, now.Add(13*time.Hour + 59*time.Minute)},         // today, 23:59
				{"key_a", "/chat", 1, 7, time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)},      // this month
				{"key_a", "/chat", 1, 10, time.Date(2025, 2, 28, 23, 59, 59, 0, time.UTC)}, // last month
				{"key_a", "/token", 3, 30, time.Date(2024, 3, 15, 10, 0, 0, 0, time.UTC)},  // same day, last year
				{"key_b", "/chat", 100, 1000, now},                                         // another key
			},
			want: storage.UsageReport{
				TotalCalls: 9, TotalTokens: 197,
				ByEndpoint: map[string]storage.Counts{
					"/chat":   {Calls: 4, TotalTokens: 167},
					"/images": {Calls: 2, TotalTokens: 0},
					"/token":  {Calls: 3, TotalTokens: 30},
				},
				Today:     storage.Counts{Calls: 4, TotalTokens: 150},
				ThisMonth: storage.Counts{Calls: 5, TotalTokens: 157},
			},
		},
		{
			name: "days and months are UTC",
			key:  "key_tz",
			records: []usageRecord{
				// 2025-03-16 01:00 at UTC+3 is 2025-03-15 22:00 UTC: today.
				{"key_tz", "/chat", 1, 1, time.Date(2025, 3, 16, 1, 0, 0, 0, plus3)},
				// 2025-03-14 22:00 at UTC-5 is 2025-03-15 03:00 UTC: today.
				{"key_tz", "/chat", 1, 2, time.Date(2025, 3, 14, 22, 0, 0, 0, minus5)},
				// 2025-03-01 02:00 at UTC+3 is 2025-02-28 23:00 UTC: last month.
				{"key_tz", "/chat", 1, 4, time.Date(2025, 3, 1, 2, 0, 0, 0, plus3)},
			},
			want: storage.UsageReport{
				TotalCalls: 3, TotalTokens: 7,
				ByEndpoint: map[string]storage.Counts{"/chat": {Calls: 3, TotalTokens: 7}},
				Today:      storage.Counts{Calls: 2, TotalTokens: 3},
				ThisMonth:  storage.Counts{Calls: 2, TotalTokens: 3},
			},
		},
		{
			name: "endpoint names with colons",
			key:  "key_colon",
			records: []usageRecord{
				{"key_colon", "images:variations", 1, 0, now},
				{"key_colon", "chat:stream", 2, 20, now},
			},
			want: storage.UsageReport{
				TotalCalls: 3, TotalTokens: 20,
				ByEndpoint: map[string]storage.Counts{
					"images:variations": {Calls: 1},
					"chat:stream":       {Calls: 2, TotalTokens: 20},
				},
				Today:     storage.Counts{Calls: 3, TotalTokens: 20},
				ThisMonth: storage.Counts{Calls: 3, TotalTokens: 20},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, _, _ := newUsage(t)
			ctx := context.Background()
			for _, r := range c.records {
				if err := u.Record(ctx, r.key, r.endpoint, r.calls, r.tokens, r.at); err != nil {
					t.Fatalf("Record: %v", err)
				}
			}
			got, err := u.Report(ctx, c.key, now)
			if err != nil {
				t.Fatalf("Report: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Report =\n %+v\nwant\n %+v", got, c.want)
			}
			// A report as of another time zone's clock reads the same UTC buckets.
			got2, err := u.Report(ctx, c.key, now.In(plus3))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got2, c.want) {
				t.Fatalf("Report in UTC+3 = %+v, want %+v", got2, c.want)
			}
		})
	}
}

func TestUsageReportJSON(t *testing.T) {
	u, _, _ := newUsage(t)
	ctx := context.Background()
	now := time.Date(2025, 3, 15, 10, 0, 0, 0, time.UTC)
	empty, err := u.Report(ctx, "key_none", now)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(empty)
	want := `{"total_calls":0,"total_tokens":0,"by_endpoint":{},"today":{"calls":0,"total_tokens":0},"this_month":{"calls":0,"total_tokens":0}}`
	if string(body) != want {
		t.Fatalf("empty report = %s, want %s", body, want)
	}
	if err := u.Record(ctx, "key_j", "/chat", 2, 30, now); err != nil {
		t.Fatal(err)
	}
	r, err := u.Report(ctx, "key_j", now)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = json.Marshal(r)
	want = `{"total_calls":2,"total_tokens":30,"by_endpoint":{"/chat":{"calls":2,"total_tokens":30}},"today":{"calls":2,"total_tokens":30},"this_month":{"calls":2,"total_tokens":30}}`
	if string(body) != want {
		t.Fatalf("report = %s, want %s", body, want)
	}
}

func TestUsageReportRollsOver(t *testing.T) {
	u, _, _ := newUsage(t)
	ctx := context.Background()
	at := time.Date(2025, 3, 31, 23, 30, 0, 0, time.UTC)
	if err := u.Record(ctx, "key_r", "/chat", 1, 10, at); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		now              time.Time
		today, thisMonth storage.Counts
	}{
		{at, storage.Counts{Calls: 1, TotalTokens: 10}, storage.Counts{Calls: 1, TotalTokens: 10}},
		{time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), storage.Counts{Calls: 1, TotalTokens: 10}, storage.Counts{Calls: 1, TotalTokens: 10}},
		{time.Date(2025, 3, 30, 23, 59, 59, 0, time.UTC), storage.Counts{}, storage.Counts{Calls: 1, TotalTokens: 10}},
		{time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), storage.Counts{}, storage.Counts{}},
	}
	for _, c := range cases {
		r, err := u.Report(ctx, "key_r", c.now)
		if err != nil {
			t.Fatal(err)
		}
		if r.Today != c.today || r.ThisMonth != c.thisMonth || r.TotalCalls != 1 || r.TotalTokens != 10 {
			t.Errorf("as of %v: %+v, want today %+v this month %+v, totals 1/10", c.now, r, c.today, c.thisMonth)
		}
	}
}

func TestUsageConcurrent(t *testing.T) {
	u, _, _ := newUsage(t)
	ctx := context.Background()
	now := time.Now().UTC()
	const goroutines, each = 50, 4
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			ep := []string{"/a", "/b"}[g%2]
			for range each {
				if err := u.Record(ctx, "key_c", ep, 1, 3, now); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r, err := u.Report(ctx, "key_c", now)
	if err != nil {
		t.Fatal(err)
	}
	const n = goroutines * each
	want := storage.UsageReport{
		TotalCalls: n, TotalTokens: 3 * n,
		ByEndpoint: map[string]storage.Counts{
			"/a": {Calls: n / 2, TotalTokens: 3 * n / 2},
			"/b": {Calls: n / 2, TotalTokens: 3 * n / 2},
		},
		Today:     storage.Counts{Calls: n, TotalTokens: 3 * n},
		ThisMonth: storage.Counts{Calls: n, TotalTokens: 3 * n},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("after %d concurrent records: %+v, want %+v", n, r, want)
	}
}

func TestUsageKeysAndTTL(t *testing.T) {
	u, rdb, keys := newUsage(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := u.Record(ctx, "key_t", "/chat", 1, 1, now); err != nil {
		t.Fatal(err)
	}
	day := keys.UsageDay("key_t", now.Format("2006-01-02"))
	month := keys.UsageMonth("key_t", now.Format("2006-01"))
	life := keys.Usage("key_t")

	all, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("keys = %v, want exactly %s, %s, %s", all, life, day, month)
	}
	for _, k := range all {
		if !strings.HasPrefix(k, keys.Prefix()) || !strings.Contains(k, "{key_t}") {
			t.Errorf("key %q lacks the prefix or the owner's hash tag", k)
		}
	}
	cases := []struct {
		key      string
		min, max time.Duration
	}{
		{day, 39 * 24 * time.Hour, 40 * 24 * time.Hour},
		{month, 399 * 24 * time.Hour, 400 * 24 * time.Hour},
	}
	for _, c := range cases {
		ttl, err := rdb.TTL(ctx, c.key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < c.min || ttl > c.max {
			t.Errorf("TTL of %s = %v, want in [%v, %v]", c.key, ttl, c.min, c.max)
		}
	}
	// Lifetime totals never expire.
	if ttl, err := rdb.TTL(ctx, life).Result(); err != nil || ttl != -1 {
		t.Errorf("TTL of %s = %v (%v), want none (-1)", life, ttl, err)
	}
	// A later record refreshes the TTL of the period keys (it never shortens them).
	if err := rdb.Expire(ctx, day, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := u.Record(ctx, "key_t", "/chat", 1, 1, now); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.TTL(ctx, day).Val(); ttl < 39*24*time.Hour {
		t.Errorf("TTL of %s after another record = %v, want ~40 days", day, ttl)
	}
}
