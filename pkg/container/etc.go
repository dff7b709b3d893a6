package container

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// EtcFiles writes a container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into dir, the way podman provides them, and returns the
// bind mounts that put them in place. With the host's network, hosts and
// resolv.conf are the host's; otherwise hosts names localhost and the
// container, and resolv.conf is the host's.
func EtcFiles(dir, hostname string, hostNetwork bool) ([]specs.Mount, error) {
	hosts := "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n" +
		"::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n" +
		"127.0.1.1\t" + hostname + "\n"
	if hostNetwork {
		if data, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(data) + "127.0.1.1\t" + hostname + "\n"
		}
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = nil // no resolver configured: an empty file, as podman
	}
	files := []struct {
		name string
		data []byte
	}{
		{"hostname", []byte(hostname + "\n")},
		{"hosts", []byte(hosts)},
		{"resolv.conf", resolv},
	}
	var mounts []specs.Mount
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return nil, fmt.Errorf("write /etc/%s: %w", f.name, err)
		}
		mounts = append(mounts, specs.Mount{Destination: "/etc/" + f.name, Type: "bind", Source: p, Options: []string{"bind", "rprivate"}})
	}
	return mounts, nil
}
