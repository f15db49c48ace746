# kassa — every developer command. `make help` lists them.
# Tools (buf, protoc plugins) are pinned in tools/go.mod and built into bin/,
# so a fresh clone needs only Go (and PostgreSQL + Node.js for the stack
# and the Postman run).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
MODULES := gen services/platform dev services/user services/billing services/order services/notification gateway services/allinone services/e2e bench
BIN := $(CURDIR)/bin
BUILD := $(CURDIR)/.build
GOTEST_FLAGS ?= -race -count=1
NEWMAN := npx newman run kassa.postman_collection.json -e kassa.postman_environment.json

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: run
run: ## start PostgreSQL, the four services and the gateway; Ctrl-C stops all
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	@$(BUILD)/kassa-stack -root $(CURDIR) -dir .data

.PHONY: run-all
run-all: ## the same system as one all-in-one process (services/allinone): PostgreSQL + one kassa process; Ctrl-C stops all
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	@$(BUILD)/kassa-stack -root $(CURDIR) -dir .data -all-in-one

.PHONY: test
test: lint check-generated check-diagrams check-alerts fmt-check vet test-go chart-test e2e e2e-all-in-one api-checks faults bench-smoke ## everything a contributor must pass
	@echo "make test: all checks passed"

.PHONY: tools
tools: $(BIN)/.tools ## build the pinned code generators into bin/
$(BIN)/.tools: tools/go.mod tools/go.sum
	@echo ">> building pinned tools (first time takes a minute or two)"
	cd tools && GOWORK=off GOBIN=$(BIN) go install tool
	@touch $@

.PHONY: generate
generate: tools $(BIN)/kassa-openapi ## regenerate gen/ from proto/
	rm -rf gen/kassa gen/openapi/kassa.openapi.json $(BUILD)/openapiv2
	$(BIN)/buf generate
	$(BIN)/kassa-openapi -in $(BUILD)/openapiv2/kassa.swagger.json -out gen/openapi/kassa.openapi.json

# The converter of the generator's Swagger 2.0 into the OpenAPI 3.0 document.
$(BIN)/kassa-openapi: tools/go.mod tools/go.sum $(wildcard tools/openapi/*.go)
	cd tools && GOWORK=off go build -o $(BIN)/kassa-openapi ./openapi

.PHONY: lint
lint: tools ## buf lint, and buf breaking against main when main exists
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code
	@if git rev-parse -q --verify refs/heads/main >/dev/null; then \
		echo "$(BIN)/buf breaking --against .git#branch=main"; \
		$(BIN)/buf breaking --against '.git#branch=main'; \
	fi

.PHONY: check-generated
check-generated: generate ## fail when gen/ is not what proto/ generates
	@git diff --exit-code -- gen || { echo "gen/ is stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen)" || { git status --porcelain -- gen; echo "gen/ has uncommitted files: run 'make generate' and commit"; exit 1; }

.PHONY: diagrams
diagrams: tools ## render docs/diagrams/*.d2 to SVG (d2 pinned in tools/)
	@for f in docs/diagrams/*.d2; do $(BIN)/d2 --layout dagre "$$f" "$${f%.d2}.svg" 2>&1 | grep -v '^success' || true; done

.PHONY: check-diagrams
check-diagrams: diagrams ## fail when a committed SVG is not what its .d2 source renders
	@git diff --exit-code -- docs/diagrams || { echo "docs/diagrams is stale: run 'make diagrams' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- docs/diagrams)" || { git status --porcelain -- docs/diagrams; echo "uncommitted diagram files: run 'make diagrams' and commit"; exit 1; }

.PHONY: api-checks
api-checks: openapi-lint e2e-prism contract docs-test client-test ## the OpenAPI document against the running API: lint, Prism-proxied newman, Dredd, /docs in Chromium, the generated TypeScript client

.PHONY: fmt-check
fmt-check: ## fail when Go files are not gofmt-ed
	@out="$$(gofmt -l $(MODULES) charts/test tools/openapi)"; test -z "$$out" || { echo "not gofmt-ed:"; echo "$$out"; exit 1; }

.PHONY: vet
vet: ## go vet every module
	@for m in $(MODULES); do echo ">> go vet $$m"; (cd $$m && go vet ./...); done
	cd charts/test && GOWORK=off go vet ./...
	cd tools && GOWORK=off go vet ./openapi

.PHONY: build
build: ## go build every module
	@for m in $(MODULES); do (cd $$m && go build ./...); done

.PHONY: test-go
test-go: ## unit and integration tests of every module (real PostgreSQL)
	@for m in $(MODULES); do echo ">> go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); done

HELM := $(BIN)/helm

.PHONY: helm-tools
helm-tools: $(BIN)/.helm ## build the helm pinned in tools/helm/go.mod into bin/
$(BIN)/.helm: tools/helm/go.mod tools/helm/go.sum
	@echo ">> building pinned helm (first time takes a minute or two)"
	cd tools/helm && GOWORK=off GOBIN=$(BIN) go install tool
	@touch $@

.PHONY: chart-test
chart-test: helm-tools ## helm lint + template every values profile, strict-decode the objects, check invariants
	cd charts/test && GOWORK=off HELM=$(HELM) go test -count=1 ./...

postman/node_modules/.installed: postman/package-lock.json
	cd postman && npm ci --no-audit --no-fund
	@touch $@

.PHONY: e2e
e2e: postman/node_modules/.installed ## run the Postman collection with newman against a throwaway stack
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	$(BUILD)/kassa-stack -root $(CURDIR) -temp -logs $(BUILD)/e2e-stack.log -exec 'cd postman && $(NEWMAN) --env-var baseUrl=$$KASSA_BASE_URL'

# The all-in-one process (services/allinone) against the same checks: the
# Postman collection, and the stack-based end-to-end tests of services/e2e
# (test-go runs them against the microservices).
.PHONY: e2e-all-in-one
e2e-all-in-one: postman/node_modules/.installed ## the Postman collection and the services/e2e stack tests against the all-in-one process
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	$(BUILD)/kassa-stack -root $(CURDIR) -temp -all-in-one -logs $(BUILD)/e2e-all-in-one-stack.log -exec 'cd postman && $(NEWMAN) --env-var baseUrl=$$KASSA_BASE_URL'
	cd services/e2e && KASSA_E2E_ALL_IN_ONE=1 go test -count=1 .

# --- API reference in a browser ---------------------------------------------
# Chromium is Debian's (apt-get install chromium); playwright-core, pinned in
# postman/package.json, drives it and downloads no browser of its own.
CHROMIUM ?= /usr/bin/chromium

.PHONY: docs-test
docs-test: postman/node_modules/.installed ## /docs in headless Chromium on a throwaway stack: every operation listed, Authorize, try-it-out 401/200, nothing fetched off this machine; screenshot in .build/
	@test -x $(CHROMIUM) || { echo "make docs-test needs Chromium at $(CHROMIUM): apt-get install -y chromium (or CHROMIUM=/path/to/chrome make docs-test)"; exit 1; }
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	$(BUILD)/kassa-stack -root $(CURDIR) -temp -logs $(BUILD)/docs-test-stack.log -exec 'CHROMIUM=$(CHROMIUM) node --test-reporter=spec postman/browser/docs.test.mjs'
# ---------------------------------------------------------------------------

# --- API contract checks ------------------------------------------------------
# The OpenAPI document against its ruleset and against the running gateway,
# with the Node.js tools pinned in postman/package.json. Each check that
# needs the gateway starts its own throwaway stack (-temp: free ports).
OPENAPI := gen/openapi/kassa.openapi.json

.PHONY: openapi-lint
openapi-lint: postman/node_modules/.installed ## the ruleset's own tests, then Spectral (.spectral.yaml) on the committed OpenAPI document and on the /openapi.json a throwaway gateway serves: 0 errors
	node --test --test-reporter=spec postman/spectral/
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	@# Both documents are linted even when the first has errors.
	@st=0; node postman/openapi-lint.mjs $(OPENAPI) || st=1; \
	$(BUILD)/kassa-stack -root $(CURDIR) -temp -logs $(BUILD)/openapi-lint-stack.log -exec 'node postman/openapi-lint.mjs --served $(OPENAPI)' || st=1; \
	exit $$st

.PHONY: e2e-prism
e2e-prism: postman/node_modules/.installed ## the Postman collection through Prism validating every request and answer against the OpenAPI document (throwaway stack)
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	$(BUILD)/kassa-stack -root $(CURDIR) -temp -logs $(BUILD)/e2e-prism-stack.log -exec 'node postman/e2e-prism.mjs $(OPENAPI) $(BUILD)'

# contract.mjs reads the stack's identity folder and grant-admin command
# from kassa-stack's own output, hence the tee.
.PHONY: contract
contract: postman/node_modules/.installed ## Dredd: every operation and documented answer of the OpenAPI document against a throwaway gateway (hooks: postman/dredd-hooks.js)
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	$(BUILD)/kassa-stack -root $(CURDIR) -temp -logs $(BUILD)/contract-stack.log \
		-exec 'KASSA_STACK_OUT=$(BUILD)/contract-stack.out node postman/contract.mjs $(OPENAPI) $(BUILD)' | tee $(BUILD)/contract-stack.out
# ---------------------------------------------------------------------------

.PHONY: faults
faults: ## fault-injection suite: kill, stop and drain the real processes and PostgreSQL under load, then check money and letters (about 1-2 min)
	@mkdir -p $(BUILD)
	cd services/e2e && KASSA_FAULTS=1 KASSA_FAULTS_LOG=$(BUILD)/faults-stack.log go test -count=1 -timeout 20m -v -run '^TestFaults$$' ./faults/

.PHONY: bench
bench: ## benchmark kassa against the PostgreSQL ceiling on a throwaway stack, then on a preloaded large data set, then the all-in-one process (about 12-16 min on 2 cores): table, bench/result.json, docs/benchmarks.svg, docs/benchmarks-plans.md
	cd bench && go run ./cmd/kassa-bench -root $(CURDIR) -logs $(BUILD)/bench-stack.log $(BENCH_FLAGS)

.PHONY: bench-smoke
bench-smoke: ## the benchmark for a few seconds at a low rate on a small preload: checks correctness and the query plans, measures nothing
	cd bench && go run ./cmd/kassa-bench -root $(CURDIR) -smoke -logs $(BUILD)/bench-smoke-stack.log

.PHONY: observe
observe: ## Prometheus on http://127.0.0.1:9090 scraping a running `make run`
	@command -v prometheus >/dev/null || { echo "make observe needs Prometheus: apt-get install prometheus (Debian/Ubuntu) or brew install prometheus (macOS), then retry"; exit 1; }
	@mkdir -p $(BUILD)/prometheus
	@echo ">> Prometheus UI: http://127.0.0.1:9090 (scrapes the admin ports 9100-9104 of make run; Ctrl-C stops)"
	prometheus --config.file=docs/observability/prometheus.yml --storage.tsdb.path=$(BUILD)/prometheus \
		--storage.tsdb.retention.time=1d --web.listen-address=127.0.0.1:9090

.PHONY: check-alerts
check-alerts: ## promtool: alert rules valid, their unit tests pass, scrape config valid
	@command -v promtool >/dev/null || { echo "promtool not found: apt-get install prometheus (it ships promtool)"; exit 1; }
	promtool check rules charts/kassa/files/alerts.yaml
	promtool test rules docs/observability/alerts.test.yaml
	promtool check config docs/observability/prometheus.yml

.PHONY: newman
newman: postman/node_modules/.installed ## run the Postman collection against a running `make run`
	cd postman && $(NEWMAN)

.PHONY: clean
clean: ## remove build outputs and the local cluster (.data)
	rm -rf $(BUILD) .data bin

# --- Generated TypeScript client (postman/client) ---------------------------
# openapi-typescript turns gen/openapi/kassa.openapi.json into types; the
# example program in postman/client is written against them with openapi-fetch.
# Everything generated or compiled stays in .build/client (never committed).
CLIENT := $(BUILD)/client

.PHONY: client-types
client-types: postman/node_modules/.installed ## generate TypeScript types from the OpenAPI document into .build/client/kassa.d.ts
	@mkdir -p $(CLIENT)
	cd postman && npx openapi-typescript ../gen/openapi/kassa.openapi.json --read-write-markers -o $(CLIENT)/kassa.d.ts

.PHONY: client-check
client-check: client-types ## type-check the example client (tsc, strict) and prove that misuses of the types do not compile
	cd postman/client && npx tsc -p tsconfig.json --noEmit
	postman/client/check-misuse.sh

.PHONY: client-build
client-build: client-types ## compile the example client to .build/client/js
	rm -rf $(CLIENT)/js
	cd postman/client && npx tsc -p tsconfig.json
	@# The compiled program imports openapi-fetch at run time; this makes
	@# Node.js find it in postman/node_modules from .build/client/js.
	ln -sfn ../../postman/node_modules $(CLIENT)/node_modules

.PHONY: client-run
client-run: client-build ## run the example client against a running `make run` (KASSA_BASE_URL, default http://localhost:8080)
	node $(CLIENT)/js/order.mjs

.PHONY: client-test
client-test: client-check client-build ## generated TypeScript client: types, strict type-check, misuses refused, the order scenario on a throwaway stack
	@go build -o $(BUILD)/kassa-stack ./dev/cmd/kassa-stack
	$(BUILD)/kassa-stack -root $(CURDIR) -temp -logs $(BUILD)/client-stack.log -exec 'node $(CLIENT)/js/order.mjs'
