package main

import (
	"os"

	"github.com/spf13/cobra"
)

// The commands that move images to and from registries and archives need
// containers/image, which costs milliseconds of start-up in every process
// that links it. rless keeps it out of the binary that runs containers:
// `make` builds the image engine (this program built with the rless_engine
// tag) and appends it to bin/rless, which executes it for these commands
// only (see engine_off.go). Built with the tag, the commands run in process
// (engine_on.go).

// pullFlags are the flags of pull.
type pullFlags struct {
	quiet      bool
	platform   string
	os, arch   string
	variant    string
	authFile   string
	creds      string
	tlsVerify  bool
	policyPath string
}

func addPullFlags(cmd *cobra.Command, f *pullFlags) {
	fl := cmd.Flags()
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the image ID")
	fl.StringVar(&f.platform, "platform", "", "pick `OS/ARCH[/VARIANT]` from a manifest list")
	fl.StringVar(&f.os, "os", "", "pick this operating system from a manifest list")
	fl.StringVar(&f.arch, "arch", "", "pick this architecture from a manifest list")
	fl.StringVar(&f.variant, "variant", "", "pick this architecture variant from a manifest list")
	addRegistryFlags(cmd, &f.authFile, &f.tlsVerify)
	fl.StringVar(&f.creds, "creds", "", "registry credentials `USER[:PASSWORD]`")
	fl.StringVar(&f.policyPath, "signature-policy", "", "signature policy file (default: policy.json's search path)")
}

func addRegistryFlags(cmd *cobra.Command, authFile *string, tlsVerify *bool) {
	cmd.Flags().StringVar(authFile, "authfile", os.Getenv("REGISTRY_AUTH_FILE"), "credentials file (default: $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json)")
	cmd.Flags().BoolVar(tlsVerify, "tls-verify", true, "require HTTPS and verify certificates (false also allows plain HTTP)")
}

type loginFlags struct {
	user, password string
	passwordStdin  bool
	authFile       string
	tlsVerify      bool
	all            bool
	getLogin       bool
}

type saveFlags struct {
	output string
	format string
}

type loadFlags struct {
	input string
	quiet bool
}

// engineCommands returns pull, save and load (and, at the top level,
// login and logout).
func engineCommands(g *globals, underImage bool) []*cobra.Command {
	pf := &pullFlags{}
	pull := &cobra.Command{
		Use:   "pull [flags] IMAGE",
		Short: "Pull an image from a registry or an archive into local storage",
		Long: `Pull an image into local storage. IMAGE is a registry reference
("alpine" and other short names are resolved through registries.conf, as
podman does) or transport:reference for oci:, oci-archive:,
docker-archive: and dir:. Layers already present are not fetched again.
Progress goes to stderr, the image ID to stdout.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPull(cmd, g, pf, args) },
	}
	addPullFlags(pull, pf)

	sf := &saveFlags{}
	save := &cobra.Command{
		Use:   "save [flags] IMAGE [IMAGE...]",
		Short: "Save images to an archive",
		Long: `Save images to a docker-archive (several images) or an oci-archive (one
image). Layers are written uncompressed and byte for byte as they were
pulled, so the images keep their IDs when loaded again.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runSave(cmd, g, sf, args) },
	}
	save.Flags().StringVarP(&sf.output, "output", "o", "", "write to `FILE` (default: stdout, which must not be a terminal)")
	save.Flags().StringVar(&sf.format, "format", "docker-archive", "docker-archive or oci-archive")

	lf := &loadFlags{}
	load := &cobra.Command{
		Use:   "load [flags]",
		Short: "Load images from a docker-archive or an oci-archive",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return runLoad(cmd, g, lf, args) },
	}
	load.Flags().StringVarP(&lf.input, "input", "i", "", "read from `FILE` (default: stdin)")
	load.Flags().BoolVarP(&lf.quiet, "quiet", "q", false, "print only the names of the loaded images")
	cmds := []*cobra.Command{pull, save, load}
	if underImage {
		return cmds
	}

	in := &loginFlags{}
	login := &cobra.Command{
		Use:   "login [flags] REGISTRY",
		Short: "Log in to a registry",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runLogin(cmd, g, in, args) },
	}
	login.Flags().StringVarP(&in.user, "username", "u", "", "user name")
	login.Flags().StringVarP(&in.password, "password", "p", "", "password")
	login.Flags().BoolVar(&in.passwordStdin, "password-stdin", false, "read the password from stdin")
	login.Flags().BoolVar(&in.getLogin, "get-login", false, "print the user name stored for REGISTRY")
	addRegistryFlags(login, &in.authFile, &in.tlsVerify)

	out := &loginFlags{}
	logout := &cobra.Command{
		Use:   "logout [flags] REGISTRY",
		Short: "Log out of a registry",
		Args: func(cmd *cobra.Command, args []string) error {
			if out.all {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runLogout(cmd, g, out, args) },
	}
	logout.Flags().BoolVarP(&out.all, "all", "a", false, "remove every stored credential")
	logout.Flags().StringVar(&out.authFile, "authfile", os.Getenv("REGISTRY_AUTH_FILE"), "credentials file (default: $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json)")
	return append(cmds, login, logout)
}
