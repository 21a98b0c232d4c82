# success-operator: every target builds what it needs, pinned, from the Go
# module proxy, or installs it from Debian's packages (PostgreSQL). The two
# entry points are `make demo` and `make test`.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

GO ?= go
BIN := $(CURDIR)/bin
K8S_BIN := $(BIN)/k8s
KUBECTL := $(K8S_BIN)/kubectl
CONTROLLER_GEN := $(GO) tool controller-gen
GOLANGCI_LINT := $(BIN)/golangci-lint
PROMETHEUS := $(BIN)/prometheus
HELM := $(BIN)/helm
IMG ?= success-operator:latest
# VERSION is the release the installer and the image are tagged with.
VERSION ?= 0.1.0
RELEASE_IMG ?= success-operator:v$(VERSION)
ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_TAR := $(BIN)/success-operator-v$(VERSION)-$(ARCH).tar
# apt-get runs through sudo unless make runs as root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

CONTROLPLANE_SRC := hack/controlplane/go.mod hack/controlplane/go.sum $(wildcard hack/controlplane/*/main.go)
CONTROLPLANE_BIN := $(K8S_BIN)/kube-apiserver $(K8S_BIN)/etcd $(K8S_BIN)/kubectl

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true rbac:roleName=manager-role paths=./... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate deepcopy code.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: docs
docs: manifests ## Generate the API field reference docs/reference.md from the CRDs.
	$(GO) run ./hack/crdref -crds config/crd/bases -out docs/reference.md

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

# FUZZ_TARGETS are the native fuzz targets, package:Name; go test runs one
# -fuzz target per package per run. Add a new FuzzX here.
FUZZ_TARGETS := \
	./internal/kpi:FuzzAggregate ./internal/kpi:FuzzDecimal ./internal/kpi:FuzzSurveyStatus ./internal/kpi:FuzzSurveys \
	./internal/health:FuzzEvaluate ./internal/health:FuzzEvaluateMeasures \
	./internal/expr:FuzzCompile ./internal/expr:FuzzEval ./internal/lifecycle:FuzzAdvance \
	./internal/sources:FuzzPick ./internal/sources:FuzzExpand ./internal/sources:FuzzValidatePlan ./internal/sources:FuzzPrometheusQuery \
	./internal/actions:FuzzVerify ./internal/watch:FuzzDropManagedFields ./test/manifests:FuzzArgoCDHealthCheck
# A count, not a duration: a duration's deadline races the fuzz workers on
# a busy machine and fails with "context deadline exceeded" although no
# input failed (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME ?= 1000x

# The seeds and testdata/fuzz are replayed first, as tests.
.PHONY: fuzz
fuzz: ## Replay every fuzz corpus, then fuzz each target for FUZZTIME (1000x); a failing input lands in testdata/fuzz.
	$(GO) test -count=1 -run '^Fuzz' $(sort $(foreach t,$(FUZZ_TARGETS),$(firstword $(subst :, ,$(t)))))
	@failed=""; for t in $(FUZZ_TARGETS); do \
		echo "$(GO) test $${t%%:*} -run '^$$' -fuzz '^$${t##*:}$$' -fuzztime $(FUZZTIME)"; \
		$(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}\$$" -fuzztime $(FUZZTIME) || failed="$$failed $${t##*:}"; \
	done; \
	if [ -n "$$failed" ]; then echo "Failing fuzz targets:$$failed"; exit 1; fi

.PHONY: test
test: manifests generate fmt vet lint envtest prometheus postgres helm fuzz ## Lint, then run every test against a real control plane, Prometheus and PostgreSQL.
	$(GO) test ./... -count=1
	cd hack/image && $(GO) test ./... -count=1

.PHONY: verify
verify: manifests generate docs ## Fail when generated files are out of date.
	@git diff --exit-code -- api config docs || { echo "Generated files are stale: run make manifests generate docs"; exit 1; }

.PHONY: bench
bench: envtest ## Benchmarks: evaluation cost per account against decoding it, measured in the same run.
	$(GO) test ./controllers/ -run '^$$' -bench . -benchmem

# BENCH_ARGS are the scale benchmark's flags, for example
# BENCH_ARGS="-n 1000 -runs 1" or BENCH_ARGS="-n 100000 -scrape 5s".
BENCH_ARGS ?=

.PHONY: bench-scale
bench-scale: envtest prometheus ## Scale benchmark: cold start, CPU, memory, Events, idle and restart writes per fleet size, against a bare status loop (BENCH_ARGS).
	$(GO) run ./hack/benchscale $(BENCH_ARGS)

.PHONY: envtest
envtest: $(CONTROLPLANE_BIN) ## Build kube-apiserver, etcd and kubectl into bin/k8s.

$(CONTROLPLANE_BIN) &: $(CONTROLPLANE_SRC)
	@echo "Building kube-apiserver, etcd and kubectl from the Go module proxy (about 7 minutes cold, cached after)"
	cd hack/controlplane && $(GO) build -o $(K8S_BIN)/ ./kube-apiserver ./etcd ./kubectl
	@touch $(CONTROLPLANE_BIN)

# PostgreSQL's server comes from Debian's packages (the tests start a
# private one with initdb in a temporary directory); nothing is done when
# it is installed.
.PHONY: postgres
postgres: ## Install PostgreSQL's server from Debian's packages when missing (the sql source's tests, the demo's warehouse).
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null || { \
		echo "Installing PostgreSQL from Debian's packages"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; }

.PHONY: helm
helm: $(HELM) ## Build helm into bin/ (helm lint and helm template of the chart in the tests).

$(HELM): hack/helm/go.mod hack/helm/go.sum
	cd hack/helm && $(GO) build -o $(HELM) helm.sh/helm/v3/cmd/helm

.PHONY: prometheus
prometheus: $(PROMETHEUS) ## Build the Prometheus server of the integration tests into bin/.

$(PROMETHEUS): hack/prometheus/go.mod hack/prometheus/go.sum
	@echo "Building Prometheus from the Go module proxy (about 2 minutes cold, cached after)"
	cd hack/prometheus && $(GO) build -tags remove_all_sd \
		-ldflags "-X github.com/prometheus/common/version.Version=3.16.0" \
		-o $(PROMETHEUS) github.com/prometheus/prometheus/cmd/prometheus

$(GOLANGCI_LINT): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && $(GO) build -o $(GOLANGCI_LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

##@ Run

.PHONY: demo
demo: envtest prometheus postgres ## The demo: control plane, Prometheus, PostgreSQL, simulator, webhook sink, plans, accounts, manager; Ctrl-C stops it.
	$(GO) build -o $(BIN)/demo ./hack/demo
	exec $(BIN)/demo

.PHONY: dev
dev: envtest ## Run a local control plane with the samples and the manager; Ctrl-C stops it.
	$(GO) build -o $(BIN)/dev ./hack/dev
	exec $(BIN)/dev

.PHONY: build
build: ## Build the manager binary.
	$(GO) build -o $(BIN)/manager .

.PHONY: plugin
plugin: ## Build the kubectl plugin into bin/kubectl-success; with bin/ on PATH, `kubectl success` runs it.
	$(GO) build -o $(BIN)/kubectl-success ./cmd/kubectl-success

.PHONY: run
run: ## Run the manager against the current kubeconfig.
	$(GO) run . --leader-elect=false --metrics-secure=false

##@ Deployment

.PHONY: image
image: ## Build the manager's OCI image as a tarball in bin/, without a container engine; the same sources give the same digest.
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags "-s -w -buildid=" -o $(BIN)/image/manager .
	cd hack/image && $(GO) run . -binary $(BIN)/image/manager -arch $(ARCH) -tag $(RELEASE_IMG) -out $(IMAGE_TAR)

.PHONY: docker-build
docker-build: ## Build the manager image.
	docker build -t $(IMG) .

.PHONY: install
install: envtest ## Install the CRDs into the current kubeconfig's cluster.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: deploy
deploy: envtest ## Deploy the operator with kustomize to the current kubeconfig's cluster.
	$(KUBECTL) kustomize config/default | sed 's|success-operator:latest|$(IMG)|' | $(KUBECTL) apply --server-side -f -

.PHONY: build-installer
build-installer: manifests envtest ## Write dist/install.yaml: config/default's CRDs, RBAC and manager, with the image RELEASE_IMG.
	@mkdir -p dist
	{ echo "# success-operator v$(VERSION), generated by make build-installer from config/default."; \
	  echo "# Install: kubectl apply --server-side -f install.yaml"; \
	  $(KUBECTL) kustomize config/default | sed 's|image: success-operator:latest|image: $(RELEASE_IMG)|'; } > dist/install.yaml

.PHONY: helm-chart
helm-chart: manifests envtest ## Write the parts of the Helm chart (dist/chart) that come from config/: CRDs, RBAC, dashboard.
	$(KUBECTL) kustomize config/default | $(GO) run ./hack/helmchart -chart dist/chart -dashboard config/grafana/success-operator-dashboard.json

.PHONY: undeploy
undeploy: envtest ## Remove the operator (CRDs and their objects included).
	$(KUBECTL) delete --ignore-not-found -k config/default
