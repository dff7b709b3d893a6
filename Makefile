# rless: `make` builds bin/rless; `make test` runs every test unprivileged.
GO ?= go
export CGO_ENABLED := 0
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test check deps bench-startup clean install

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/rless ./cmd/rless

install: build
	install -m 0755 bin/rless $(DESTDIR)/usr/local/bin/rless

# All tests. As root it creates the users rlesstest (with a subordinate id
# range) and rlesstest2 (without) and runs the tests as them.
test:
	hack/test.sh

# Formatting, vet and staticcheck.
check:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Debian packages the tests need (as root).
deps:
	hack/deps.sh

bench-startup:
	bench/startup/run.sh

clean:
	rm -rf bin
