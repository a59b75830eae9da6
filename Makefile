# taskwire developer targets. The README names them; .ci/run calls `make test`.
GO       ?= go
PKGS     := ./...
SPECS    := $(wildcard specs/*.yaml)
FUZZTIME ?= 60s

.PHONY: crash-test all build test unit vet fmt-check validate-specs check-generated generate lint bench fuzz demo release-check screenshots clean

## demo: the secure demo server from specs/secure_demo.yaml on :8000 (ADDR=...), in memory.
ADDR ?= :8000
demo:
	$(GO) run ./examples/secureapi -addr $(ADDR)

all: build

build:
	$(GO) build -o bin/taskwire ./cmd/taskwire

## test: everything CI checks: formatting, vet, the example specs, generated files, unit tests under -race.
test: fmt-check vet validate-specs check-generated unit

unit:
	$(GO) test -race -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

validate-specs:
	$(GO) run ./cmd/taskwire validate $(SPECS)

## check-generated: fails when a committed generated file (the JSON Schema, the examples' code) is stale.
check-generated:
	$(GO) run ./cmd/taskwire schema --check specs/taskwire.schema.json
	$(GO) run ./cmd/taskwire generate --check --out examples/secureapi/securedemo specs/secure_demo.yaml

## generate: rewrites every committed generated file.
generate:
	$(GO) run ./cmd/taskwire schema -o specs/taskwire.schema.json
	$(GO) generate ./examples/...

## lint: vet, gofmt and Redocly's recommended rules on the secure demo's OpenAPI document (needs npx).
## no-path-trailing-slash is skipped: the console's page is GET /ui/ (CONTRACT.md section 5), a directory-like URL on purpose.
lint: vet fmt-check
	npx --yes @redocly/cli@2.77.0 lint --extends=recommended --skip-rule=no-path-trailing-slash generator/openapi/testdata/secure_demo.openapi.json

## crash-test: the JetStream crash tests ten times in a row: a worker SIGKILLed at every step of a
## task's life under load, 1,500 runs over HTTP with a worker killed and restarted, the same with
## the API process killed while it starts runs, the same with the nats-server killed and
## restarted, and a 3-node cluster losing a server.
crash-test:
	$(GO) test -timeout 60m -run 'TestWorkerKilledAtEveryStep|TestOutsideWorkerKilledUnderLoad|TestAPIKilledUnderLoad|TestBrokerKilledUnderLoad|TestClusterSurvivesANodeStoppedUnderLoad' -count=10 -v ./runtime/natsjs/ | grep -E '^(--- |ok|FAIL)'

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## screenshots: runs the console's browser test (needs Chromium) and saves the console's views as docs/images/console-*.png.
screenshots:
	mkdir -p docs/images
	TASKWIRE_SCREENSHOTS=$(CURDIR)/docs/images $(GO) test -count=1 -run '^TestConsole$$' ./examples/secureapi

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./generator/spec

## release-check: validates .goreleaser.yaml and checks that a snapshot build stamps `taskwire version`.
## GoReleaser is built from tools/go.mod (its own module): about 5 minutes the first time, seconds after.
release-check:
	GO=$(GO) scripts/release-check.sh

clean:
	rm -rf bin dist
