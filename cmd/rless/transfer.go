package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rless/rless/internal/diskfault"
	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

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
	retry      retryFlags
}

// retryFlags are podman's --retry and --retry-delay, of pull and of the
// commands that pull a missing image.
type retryFlags struct {
	retry uint
	delay time.Duration
}

func (f *retryFlags) register(fl *pflag.FlagSet) {
	fl.UintVar(&f.retry, "retry", 3, "times to try a failed pull again (network errors, stalled transfers, HTTP 429 and 5xx)")
	fl.DurationVar(&f.delay, "retry-delay", 0, "wait between pull tries (default: 2s, doubled at each try)")
}

// set puts the flags into o.
func (f *retryFlags) set(o *engine.PullOptions) {
	o.Retry, o.RetryDelay = &f.retry, f.delay
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
	f.retry.register(fl)
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

func runPull(cmd *cobra.Command, g *globals, f *pullFlags, args []string) error {
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	opts := engine.PullOptions{
		Platform: f.platform, OS: f.os, Arch: f.arch, Variant: f.variant,
		AuthFile: f.authFile, Creds: f.creds, SignaturePolicy: f.policyPath,
		Display: !f.quiet,
	}
	if cmd.Flags().Changed("tls-verify") {
		opts.TLSVerify = &f.tlsVerify
	}
	f.retry.set(&opts)
	img, err := e.Pull(cmd.Context(), args[0], opts)
	if err != nil {
		return err
	}
	fmt.Println(img.ID)
	return nil
}

func runSave(cmd *cobra.Command, g *globals, f *saveFlags, args []string) error {
	if f.output == "" && term.IsTerminal(int(os.Stdout.Fd())) {
		return errors.New("refusing to write an archive to a terminal: use --output or redirect stdout")
	}
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	out := f.output
	if out == "" {
		dir, err := os.MkdirTemp("", "rless-save-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		out = filepath.Join(dir, "archive.tar")
	} else if out, err = filepath.Abs(out); err != nil {
		return err
	}
	if err := e.SaveImages(cmd.Context(), args, f.format, out); err != nil {
		return err
	}
	if f.output == "" {
		a, err := os.Open(out)
		if err != nil {
			return err
		}
		defer a.Close()
		if _, err := io.Copy(os.Stdout, a); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	return nil
}

func runLoad(cmd *cobra.Command, g *globals, f *loadFlags, args []string) error {
	if f.input == "" && term.IsTerminal(int(os.Stdin.Fd())) {
		return errors.New("no archive: use --input or redirect stdin")
	}
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	in := f.input
	if in == "" {
		dir := os.TempDir()
		tmp, err := os.CreateTemp(dir, "rless-load-*.tar")
		if err != nil {
			return diskfault.Wrap(err, "a copy of the archive", dir)
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, os.Stdin)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return diskfault.Wrap(fmt.Errorf("read archive: %w", err), "a copy of the archive", dir)
		}
		in = tmp.Name()
	} else if in, err = filepath.Abs(in); err != nil {
		return err
	}
	imgs, err := e.LoadImages(cmd.Context(), in, engine.PullOptions{Display: !f.quiet})
	for _, img := range imgs {
		if len(img.Names) == 0 {
			fmt.Printf("Loaded image: sha256:%s\n", img.ID)
		}
		for _, n := range img.Names {
			fmt.Printf("Loaded image: %s\n", n)
		}
	}
	return err
}

func runLogin(cmd *cobra.Command, g *globals, f *loginFlags, args []string) error {
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	opts := engine.LoginOptions{AuthFile: f.authFile}
	if cmd.Flags().Changed("tls-verify") {
		opts.TLSVerify = &f.tlsVerify
	}
	registry := engine.RegistryHost(args[0])
	if f.getLogin {
		name, err := e.LoginName(cmd.Context(), registry, opts)
		if err != nil {
			return err
		}
		fmt.Println(name)
		return nil
	}
	user, password := f.user, f.password
	in := bufio.NewReader(os.Stdin)
	if user == "" {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return errors.New("no user name: use --username")
		}
		fmt.Fprint(os.Stderr, "Username: ")
		line, _ := in.ReadString('\n')
		user = strings.TrimSpace(line)
	}
	switch {
	case f.passwordStdin:
		if password != "" {
			return errors.New("--password and --password-stdin are mutually exclusive")
		}
		data, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		password = strings.TrimRight(string(data), "\r\n")
	case password == "" && term.IsTerminal(int(os.Stdin.Fd())):
		fmt.Fprint(os.Stderr, "Password: ")
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return err
		}
		password = string(b)
	case password == "":
		return errors.New("no password: use --password-stdin")
	}
	if err := e.Login(cmd.Context(), registry, user, password, opts); err != nil {
		return err
	}
	fmt.Println("Login Succeeded!")
	return nil
}

func runLogout(cmd *cobra.Command, g *globals, f *loginFlags, args []string) error {
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	opts := engine.LoginOptions{AuthFile: f.authFile}
	registry := ""
	if !f.all {
		registry = engine.RegistryHost(args[0])
	}
	if err := e.Logout(cmd.Context(), registry, f.all, opts); err != nil {
		return err
	}
	if f.all {
		fmt.Println("Removed login credentials for all registries")
	} else {
		fmt.Printf("Removed login credentials for %s\n", registry)
	}
	return nil
}
