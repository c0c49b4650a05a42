// Command tbackend is the whole service in one binary: `api`, `worker`, `dev` (both with embedded
// defaults) and `keys` (API key admin).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.As(err, new(loggedError)) {
			fmt.Fprintln(os.Stderr, "tbackend:", err)
		}
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const topUsage = `tbackend — T Backend: AI chat, Cardano token analysis and AI images over a job queue.

Usage:
  tbackend api      serve the HTTP api (needs REDIS_URL)
  tbackend worker   run the job workers (needs REDIS_URL, OPENAI_API_KEY, BLOCKFROST_PROJECT_ID)
  tbackend dev      api and worker in one process with embedded Redis and upstream emulators
  tbackend keys     create, list and revoke API keys
  tbackend pay      pay an invoice (a 402 answer) from a wallet and print the headers to retry with
  tbackend version  print the version

Run "tbackend <command> -h" for a command's options. Configuration comes from the environment
(see README.md).
`

// run is the program: everything it touches comes in through its arguments.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usageError{"missing command"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "api", "worker", "dev":
		return runService(ctx, cmd, rest, getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, getenv, stdout, stderr)
	case "pay":
		return runPay(ctx, rest, getenv, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "tbackend %s (%s)\n", version, commit)
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return nil
	}
	fmt.Fprint(stderr, topUsage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// parseFlags parses a subcommand's flags; -h prints usage and ends the command successfully.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (help bool, err error) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return false, usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return false, nil
}
