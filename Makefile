# webhookd — run `make help` for the targets.
GO      ?= go
BIN     ?= bin/webhookd
DATA    ?= ./data
LISTEN  ?= 127.0.0.1:8080
# make run lets endpoints live on this machine over plain http, so the README's walkthrough works with a local
# receiver. The binary's own defaults are https-only, public addresses only: run it without these flags in production.
RUN_FLAGS ?= --allow-private-endpoints --allow-http-endpoints
# make run logs warnings and errors only: the walkthrough's polling would fill the terminal with a line per request.
LOG_LEVEL ?= warn
PKGS    ?= ./...
BENCH_E2E_FLAGS ?=

.DEFAULT_GOAL := help

help: ## List the targets and the variables they take.
	@echo "targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "variables (make VAR=value target), with their values now:"
	@printf '  %-24s %s\n' \
	  'LISTEN=$(LISTEN)' 'where make run serves the API' \
	  'DATA=$(DATA)' 'make run'"'"'s data directory (the store and the operator token); make reset removes it' \
	  'RUN_FLAGS=...' 'flags make run adds: $(RUN_FLAGS)' \
	  'LOG_LEVEL=$(LOG_LEVEL)' 'make run'"'"'s log level; info logs every request' \
	  'BENCH_E2E_FLAGS=$(BENCH_E2E_FLAGS)' 'flags for make bench-e2e (go run ./cmd/webhookd-bench -h lists them)' \
	  'PKGS=$(PKGS)' 'the packages make test, lint and vet cover' \
	  'GO=$(GO)' 'the go command'

build: ## Build the webhookd binary into bin/.
	$(GO) build -o $(BIN) ./cmd/webhookd

run: build ## Run webhookd on the embedded store (data in ./data, API on 127.0.0.1:8080, local receivers allowed).
	@echo "webhookd: API on http://$(LISTEN), data in $(DATA), log level $(LOG_LEVEL) (make run LOG_LEVEL=info logs every request)"
	$(BIN) serve --listen $(LISTEN) --data $(DATA) --log-level $(LOG_LEVEL) $(RUN_FLAGS)

test: interop ## Run every test (vet, then go test -race); needs redis-server and node on PATH.
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 $(PKGS)

interop: interop/node_modules ## Install the pinned npm packages the interop tests run.

interop/node_modules: interop/package.json interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bench: ## Micro-benchmarks: signing vs the official library, store publish/claim/ack, batch publish.
	@out=$$(mktemp "$${TMPDIR:-/tmp}/webhookd-bench.XXXXXX") && trap 'rm -f "$$out"' EXIT && \
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./signing/ | tee "$$out" && \
	awk '/^BenchmarkOfficialSign1KiB/ {o+=$$3; no++} /^BenchmarkSignHMAC1KiB/ {s+=$$3; ns++} \
	  /^BenchmarkStdlibEd25519/ {eo+=$$3; neo++} /^BenchmarkSignEd25519/ {es+=$$3; nes++} \
	  END { if (no && ns) printf "v1 HMAC: webhookd is %.2fx the official library (%.0f vs %.0f ns/op)\n", (o/no)/(s/ns), s/ns, o/no; \
	        if (neo && nes) printf "v1a ed25519: webhookd takes %.1f%% of the time of crypto/ed25519.Sign (%.0f vs %.0f ns/op)\n", 100*(es/nes)/(eo/neo), es/nes, eo/neo }' "$$out"
	$(GO) test -run '^$$' -bench . -benchmem ./store/...

bench-e2e: ## End-to-end benchmark of the real binary on both stores; writes docs/benchmarks.md and .png (idle machine, ~40 min).
	$(GO) run ./cmd/webhookd-bench --write-docs $(BENCH_E2E_FLAGS)

fuzz: ## Run each fuzz target for 20s.
	@for t in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/func //' | sort -u); do \
	  pkg=$$(grep -rlE "^func $$t\(" --include='*_test.go' . | head -1 | xargs dirname); \
	  echo "== $$t ($$pkg)"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 20s $$pkg || exit 1; done

# staticcheck, pinned: make lint installs it once into bin/tools/<version>/ (make clean removes it).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/tools/$(STATICCHECK_VERSION)/staticcheck

lint: $(STATICCHECK) ## gofmt, go vet and staticcheck (the import-graph check is a test: internal/layers).
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  files=$$(git ls-files --cached --others --exclude-standard '*.go'); \
	else \
	  files=$$(find . -name node_modules -prune -o -name '*.go' -print); \
	fi; \
	[ -n "$$files" ] || { echo "lint: no Go files found"; exit 1; }; \
	out=$$(gofmt -l $$files </dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

$(STATICCHECK):
	GOBIN=$(CURDIR)/$(@D) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean: ## Remove build output (and the installed lint tools).
	rm -rf bin

reset: ## Remove make run's data directory (./data: the store and the operator token). Stop make run first.
	rm -rf $(DATA)

.PHONY: help build run test interop bench bench-e2e fuzz lint clean reset
