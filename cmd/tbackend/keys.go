package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
)

const keysUsage = `Usage:
  tbackend keys create --name N [--owner O] [--partner P] [--scopes chat,token-analysis,...|all] [--expires 720h] [--rpm 600]
                       [--max-jobs N] [--max-streams M] [--json]
  tbackend keys list [--json]
  tbackend keys revoke ID

Scopes: chat, token-analysis, images, images:variations, payments, admin (or all).
--partner binds the key to a partner of PAYMENTS_CONFIG: it proves the caller is that partner
(its price, its users' prepaid credits). The plaintext key is printed once by create and never
stored. --max-jobs and --max-streams cap the jobs in flight and the open streams the key holds
at once (0: KEY_MAX_JOBS / KEY_MAX_STREAMS of the api, -1: no cap). Needs REDIS_URL.
`

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, keysUsage)
		if len(args) == 0 {
			return usageError{"keys: missing subcommand"}
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	if sub != "create" && sub != "list" && sub != "revoke" {
		fmt.Fprint(stderr, keysUsage)
		return usageError{fmt.Sprintf("keys: unknown subcommand %q", sub)}
	}
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage) }
	var (
		name    = fs.String("name", "", "key name (required for create)")
		owner   = fs.String("owner", "", "who the key belongs to")
		partner = fs.String("partner", "", "the PAYMENTS_CONFIG partner this key stands for")
		scopes  = fs.String("scopes", "all", "comma-separated scopes, or all")
		expires = fs.Duration("expires", 0, "lifetime, e.g. 720h (0: never)")
		rpm     = fs.Int("rpm", 600, "requests per minute (0: unlimited)")
		maxJobs = fs.Int("max-jobs", 0, "jobs in flight at once (0: the api's KEY_MAX_JOBS, -1: no cap)")
		maxStr  = fs.Int("max-streams", 0, "open streams at once (0: the api's KEY_MAX_STREAMS, -1: no cap)")
		asJSON  = fs.Bool("json", false, "print JSON")
	)
	var id string
	if sub == "revoke" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if help, err := parseFlags(fs, rest, stderr); help || err != nil {
		return err
	}
	store, pay, closeStore, err := openKeyStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeStore()
	switch sub {
	case "create":
		p := storage.NewKeyParams{Name: *name, Owner: *owner, Partner: strings.TrimSpace(*partner), TTL: *expires, RPM: *rpm,
			MaxJobs: *maxJobs, MaxStreams: *maxStr}
		if err := checkPartner(pay, p.Partner); err != nil {
			return err
		}
		return createKey(ctx, store, stdout, p, *scopes, *asJSON)
	case "revoke":
		if id == "" {
			return usageError{"keys revoke: missing key ID"}
		}
		if err := store.Revoke(ctx, id); err != nil {
			if errors.Is(err, storage.ErrKeyNotFound) {
				return fmt.Errorf("keys revoke: no key %q", id)
			}
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
		return nil
	}
	return listKeys(ctx, store, stdout, *asJSON)
}

// openKeyStore opens the key store and returns the payments configuration (nil when off), which
// partner keys are checked against.
func openKeyStore(ctx context.Context, getenv func(string) string) (*storage.KeyStore, *payments.Config, func(), error) {
	cfg, err := loadConfig("keys", getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	rdb, err := storage.OpenRedis(ctx, cfg.Redis)
	if err != nil {
		return nil, nil, nil, err
	}
	return storage.NewKeyStore(rdb, storage.NewKeys(""), 0), cfg.Pay, func() { _ = rdb.Close() }, nil
}

// checkPartner refuses a partner the payments configuration does not know: a typo would make a
// key that proves nothing.
func checkPartner(pay *payments.Config, partner string) error {
	if partner == "" {
		return nil
	}
	if pay == nil {
		return usageError{"keys create: --partner needs PAYMENTS_CONFIG (the partner must be one of its partners)"}
	}
	if _, ok := pay.Partners[partner]; !ok {
		names := make([]string, 0, len(pay.Partners))
		for n := range pay.Partners {
			names = append(names, n)
		}
		slices.Sort(names)
		return usageError{fmt.Sprintf("keys create: unknown partner %q (PAYMENTS_CONFIG has: %s)", partner, strings.Join(names, ", "))}
	}
	return nil
}

func parseScopes(s string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return storage.AllScopes(), nil
	}
	out := list(s)
	if len(out) == 0 {
		return nil, usageError{"keys create: --scopes is empty"}
	}
	return out, nil
}

func createKey(ctx context.Context, store *storage.KeyStore, stdout io.Writer, p storage.NewKeyParams, scopeList string, asJSON bool) error {
	if strings.TrimSpace(p.Name) == "" {
		return usageError{"keys create: --name is required"}
	}
	if p.TTL < 0 || p.RPM < 0 {
		return usageError{"keys create: --expires and --rpm cannot be negative"}
	}
	if p.MaxJobs < -1 || p.MaxStreams < -1 {
		return usageError{"keys create: --max-jobs and --max-streams take a count, 0 (the default) or -1 (no cap)"}
	}
	scopes, err := parseScopes(scopeList)
	if err != nil {
		return err
	}
	p.Scopes = scopes
	k, plain, err := store.Create(ctx, p)
	if errors.Is(err, storage.ErrUnknownScope) {
		return usageError{fmt.Sprintf("keys create: %v (known: %s)", err, strings.Join(storage.AllScopes(), ", "))}
	}
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"key": plain, "id": k.ID, "name": k.Name, "owner": k.Owner, "partner": k.Partner, "scopes": k.Scopes, "expires_at": k.ExpiresAt,
			"max_jobs": k.MaxJobs, "max_streams": k.MaxStreams,
		})
	}
	fmt.Fprintf(stdout, "id:      %s\nkey:     %s\nscopes:  %s\nexpires: %s\n", k.ID, plain, strings.Join(k.Scopes, ","), orNever(k.ExpiresAt))
	if k.Partner != "" {
		fmt.Fprintf(stdout, "partner: %s\n", k.Partner)
	}
	fmt.Fprintln(stdout, "(store the key now: it is not shown again)")
	return nil
}

func listKeys(ctx context.Context, store *storage.KeyStore, stdout io.Writer, asJSON bool) error {
	keys, err := store.List(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(keys)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tOWNER\tPARTNER\tSCOPES\tRPM\tCREATED\tEXPIRES\tSTATE")
	now := time.Now()
	for _, k := range keys {
		state := "active"
		if k.RevokedAt != nil {
			state = "revoked"
		} else if !k.Active(now) {
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", k.ID, k.Name, orDash(k.Owner), orDash(k.Partner), strings.Join(k.Scopes, ","),
			k.RPM, k.CreatedAt.Format(time.RFC3339), orNever(k.ExpiresAt), state)
	}
	return tw.Flush()
}

func orNever(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
