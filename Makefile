# rless: `make` builds bin/rless; `make test` runs every test unprivileged.
GO ?= go
export CGO_ENABLED := 0
# containers/image's signature code in pure Go (no gpgme).
export GOFLAGS := -tags=containers_image_openpgp
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test check deps bench-startup demo clean install

all: build

# bin/rless with its image engine appended (see cmd/rless/engine.go).
build:
	LDFLAGS='$(LDFLAGS)' hack/build.sh bin/rless

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
	$(GO) vet -tags rless_lean,containers_image_openpgp ./cmd/rless
	$(GO) vet -tags rless_lean,rless_netin,containers_image_openpgp ./cmd/rless-supervisor
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags rless_lean,containers_image_openpgp ./cmd/rless
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags rless_lean,rless_netin,containers_image_openpgp ./cmd/rless-supervisor

# Debian packages the tests need (as root).
deps:
	hack/deps.sh

# An image built from this repository's sources (examples/hello, static),
# written as an OCI layout and run as any pulled image is: no registry needed.
demo: build
	rm -rf bin/demo-image
	$(GO) build -trimpath -ldflags '-s -w' -o bin/demo-hello ./examples/hello
	$(GO) run ./hack/mkimage -o bin/demo-image -tag demo -entrypoint /hello \
		/hello=bin/demo-hello /etc/demo-release=@"rless $(VERSION)"
	bin/rless run --rm oci:bin/demo-image:demo

bench-startup:
	bench/startup/run.sh

clean:
	rm -rf bin
