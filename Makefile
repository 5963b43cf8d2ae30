# Shoal: peer-assisted package deployment. Run `make help` for the targets.

SHELL     := /bin/bash
GO        ?= go
BIN       ?= bin
RUN_DIR   ?= .run
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/shoal-project/shoal/cmd/internal/run.Version=$(VERSION)
export CGO_ENABLED = 0
BINARIES  := shoal-central shoal-agent shoal-relay shoal-tracker shoalctl
# A count, not a duration: duration-based -fuzztime hits a Go 1.26 coordinator race that
# fails with "context deadline exceeded" at the deadline (golang/go#75804, fixed in Go 1.27).
FUZZTIME  ?= 200000x
ARTIFACTS ?= $(CURDIR)/.artifacts

.PHONY: help build run test unit itest fuzz lint fmt tidy bench bench-attacks lab sim clean test-deps cross-windows wine-test dist

help: ## Show this help.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Build every binary into bin/.
	@mkdir -p $(BIN)
	@echo "make build: building $(BINARIES) into $(BIN)/ (the first build takes minutes)…"
	@for b in $(BINARIES); do echo "  $(BIN)/$$b"; $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$b ./cmd/$${b#shoal-} || exit 1; done

run: build ## Start central with an embedded database in .run/ and print how to log in.
	@mkdir -p $(RUN_DIR)
	@test -f $(RUN_DIR)/central.yaml || printf '%s\n' \
	  'data_dir: $(CURDIR)/$(RUN_DIR)/central' \
	  'http_addr: 127.0.0.1:8080' \
	  'https_addr: 127.0.0.1:8443' \
	  'public_host: 127.0.0.1' > $(RUN_DIR)/central.yaml
	@echo "make run: starting central with $(RUN_DIR)/central.yaml; it stays in the foreground (Ctrl-C stops it)…"
	$(BIN)/shoal-central -config $(RUN_DIR)/central.yaml

test-deps: ## Install the Debian packages the tests need (ocsinventory-agent, …) if missing.
	@./scripts/test-deps.sh

test: test-deps ## Run every test: unit (with -race), fuzz (bounded) and integration.
	$(GO) vet ./...
	$(MAKE) --no-print-directory cross-windows
	$(MAKE) --no-print-directory wine-test
	$(MAKE) --no-print-directory dist DIST_ARCHES=amd64 DIST_TRIMPATH=
	CGO_ENABLED=1 ./scripts/with-postgres.sh $(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory itest

cross-windows: ## Cross-compile shoal-agent for windows/amd64 and windows/arm64 and vet every package it uses as Windows code.
	GO=$(GO) ./scripts/cross-windows.sh

DIST        ?= dist/out
MSI_VERSION ?= 0.1.0
DIST_ARCHES ?= amd64 arm64
# make test builds the MSI without -trimpath, so that the agent's packages
# compiled by cross-windows are reused (with it, everything compiles again).
DIST_TRIMPATH ?= -trimpath
dist: ## Build shoal-agent.exe for windows/amd64 and arm64 and the amd64 MSI (wixl) into dist/out/.
	@mkdir -p $(DIST)
	@for a in $(DIST_ARCHES); do GOOS=windows GOARCH=$$a $(GO) build $(DIST_TRIMPATH) -ldflags '$(LDFLAGS)' -o $(DIST)/windows-$$a/shoal-agent.exe ./cmd/agent || exit 1; done
	wixl -a x64 -D Version=$(MSI_VERSION) -D Win64=yes -D Exe=$(DIST)/windows-amd64/shoal-agent.exe \
	  -o $(DIST)/shoal-agent-amd64.msi dist/shoal-agent.wxs
	./scripts/msi-check.sh $(DIST)/shoal-agent-amd64.msi

WINE_PKGS ?= ./agent/install ./agent/inventory ./cmd/agent
wine-test: ## Run the Windows agent's unit tests as Windows binaries under wine64 (scripts/wine-exec.sh).
	GOOS=windows GOARCH=amd64 $(GO) test -count=1 -exec $(CURDIR)/scripts/wine-exec.sh $(WINE_PKGS)

unit: ## Run the unit tests only.
	$(GO) test -count=1 ./...

fuzz: ## Run each fuzz target for FUZZTIME executions (default 200000x, ~15–30 s each).
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeParse$$' -fuzztime $(FUZZTIME) ./proto/ocs/
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyManifest$$' -fuzztime $(FUZZTIME) ./proto/

itest: ## Run the integration tests (real binaries, the real OCS agent, Chromium, PostgreSQL and HAProxy for the replicas); UI screenshots go to .artifacts/ui.
	@mkdir -p $(ARTIFACTS)/ui
	SHOAL_UI_ARTIFACTS=$(ARTIFACTS)/ui ./scripts/with-postgres.sh $(GO) test -tags integration -count=1 -timeout 25m -parallel 10 -v ./itest/ 2>&1 | grep --line-buffered -vE '^=== (RUN|PAUSE|CONT)'; exit $${PIPESTATUS[0]}

bench: ## Run the benchmarks and print their numbers.
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2x ./proto/... ./central/... ./tracker/...
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/p2p/
	$(GO) test -run '^$$' -bench 'BenchmarkMembership20' -benchtime 1x -v ./agent/lan/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 10m ./relay/
	./scripts/with-postgres.sh $(GO) test -tags integration -run '^$$' -bench . -benchtime 1x -timeout 30m -v ./itest/

bench-attacks: ## Peak RSS and worst latency of central under 64 parallel hostile bodies of each kind (also part of bench).
	$(GO) test -tags integration -run '^$$' -bench BenchmarkAttackBodies -benchtime 1x -timeout 20m -v ./itest/

LAB_OUT   ?= lab-out
LAB_FLAGS ?=
lab: ## Branch lab (root): agents in network namespaces behind shaped uplinks; report in lab-out/ (LAB_FLAGS=-size 8MiB …).
	@if [ "$$(id -u)" != 0 ]; then echo "make lab: skipped: the branch lab needs root (network namespaces, tc)." >&2; exit 0; fi
	@if ! ip netns list >/dev/null 2>&1; then echo "make lab: skipped: 'ip netns' is not available here." >&2; exit 0; fi
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/shoal-central ./cmd/central
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/shoal-lab ./cmd/shoal-lab
	@for b in agent relay; do if [ -f cmd/$$b/main.go ]; then \
	  $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/shoal-$$b ./cmd/$$b || { rm -f $(BIN)/shoal-$$b; echo "make lab: shoal-$$b does not build; its scenarios are skipped." >&2; }; fi; done
	$(BIN)/shoal-lab -bin $(BIN) -out $(LAB_OUT) $(LAB_FLAGS)

lint: ## go vet plus a gofmt check.
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt: ## Format the code.
	gofmt -w $$(git ls-files '*.go')

tidy: ## go mod tidy (never -u: versions are pinned on purpose).
	$(GO) mod tidy

clean: ## Remove build output and the local run directory.
	rm -rf $(BIN) $(RUN_DIR) $(ARTIFACTS) lab-out $(DIST)

SIM_OUT    ?= sim-out
SIM_TMPDIR ?= $(shell test -d /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})
SIM_FLAGS  ?=
sim: ## Run the scale simulator (sim/): the real swarm scheduler, tracker and branch relay for up to 500 agents per branch, in virtual time; report in sim-out/.
	@mkdir -p $(SIM_OUT)
	TMPDIR=$(SIM_TMPDIR) $(GO) test -count=1 -timeout 30m -v -run '^TestScale$$' ./sim -args -sim.full -sim.out $(CURDIR)/$(SIM_OUT) $(SIM_FLAGS) 2>&1 | grep --line-buffered -vE '^=== (RUN|PAUSE|CONT)'; exit $${PIPESTATUS[0]}
