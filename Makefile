# T Backend — see README.md. `make dev` runs everything embedded; `make test` runs every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: dev build test test-short bench bench-go lint openapi-lint fmt fuzz faults

# The built binary, not `go run`: go run exits with status 1 after Ctrl-C whatever the program
# returns (make then reports an error); the banner's commands name this binary too.
dev: build
	./bin/tbackend dev

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/tbackend ./cmd/tbackend

# Every test, with the race detector, against a real Redis and a real MinIO (started when absent).
test:
	.ci/with-services $(GO) test -race -count=1 -timeout 20m ./...

# The fault suite (faults/): real api, two workers, Redis with AOF and the emulators, broken on
# purpose (worker SIGKILL, Redis restart, upstream faults, departing clients). Needs redis-server.
faults:
	$(GO) test -tags faults -count=1 -timeout 8m ./faults/

# The service's speed as ratios against baselines measured in the same run (cmd/tbench): starts
# the real api and worker, Redis when none answers, and the upstream emulators; prints a table and
# writes bench-results.json. BENCH_FLAGS=-quick for a short run; -h lists the flags.
bench:
	$(GO) run ./cmd/tbench $(BENCH_FLAGS)

# Go benchmarks of the hot paths: they report numbers, never assertions.
bench-go:
	.ci/with-services $(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 20m ./...

lint:
	$(GO) vet ./...
	.ci/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) test -count=1 -run '^TestArchitecture' ./cmd/tbackend
	.ci/standalone

# api/openapi.yaml against Redocly's recommended rules (the CLI pinned in .ci/redocly, installed
# by npm on first use; needs Node.js). Not part of lint, which needs only Go; CI runs both.
openapi-lint:
	.ci/openapi-lint

# Every fuzz target for FUZZTIME (default 10000x: inputs, not seconds) each.
fuzz:
	.ci/fuzz

fmt:
	gofmt -w $$(git ls-files '*.go')
