package image

import (
	"fmt"
	"strings"

	"go.podman.io/image/v5/types"
)

// Options are the settings of every registry operation.
type Options struct {
	// AuthFile is the credentials file (default: containers/image's
	// search: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
	// ~/.config/containers/auth.json, ~/.docker/config.json).
	AuthFile string
	// RegistriesConf replaces the registries.conf search when set.
	RegistriesConf string
	// PolicyPath replaces the policy.json search when set.
	PolicyPath string
	// Creds is "user[:password]" for the registry, overriding AuthFile.
	Creds string
	// TLSVerify false allows plain HTTP and unverified TLS for every
	// registry; nil leaves it to registries.conf.
	TLSVerify *bool
	// Platform picks an image of a manifest list: os/arch[/variant];
	// empty parts mean this machine's.
	Platform Platform
}

// Platform names an operating system, architecture and variant.
type Platform struct{ OS, Arch, Variant string }

// ParsePlatform parses "os/arch[/variant]" (podman's --platform).
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant]", s)
	}
	p := Platform{OS: parts[0], Arch: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// SystemContext returns the containers/image settings for o.
func (o Options) SystemContext() (*types.SystemContext, error) {
	sys := &types.SystemContext{
		AuthFilePath:             o.AuthFile,
		SystemRegistriesConfPath: o.RegistriesConf,
		SignaturePolicyPath:      o.PolicyPath,
		OSChoice:                 o.Platform.OS,
		ArchitectureChoice:       o.Platform.Arch,
		VariantChoice:            o.Platform.Variant,
		DockerRegistryUserAgent:  "rless",
		OCIInsecureSkipTLSVerify: o.TLSVerify != nil && !*o.TLSVerify,
	}
	if o.TLSVerify != nil {
		sys.DockerInsecureSkipTLSVerify = types.NewOptionalBool(!*o.TLSVerify)
	}
	if o.Creds != "" {
		user, pass, _ := strings.Cut(o.Creds, ":")
		if user == "" {
			return nil, fmt.Errorf("credentials %q: no user name", o.Creds)
		}
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: user, Password: pass}
	}
	return sys, nil
}
