//go:build rless_engine

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rless/rless/pkg/image"
	"github.com/rless/rless/pkg/store"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/pkg/docker/config"
	"golang.org/x/term"
)

func runPull(cmd *cobra.Command, g *globals, f *pullFlags, args []string) error {
	s, done, err := engineStore(cmd, g)
	if done || err != nil {
		return err
	}
	opts := image.PullOptions{Options: image.Options{AuthFile: f.authFile, Creds: f.creds, PolicyPath: f.policyPath}}
	if cmd.Flags().Changed("tls-verify") {
		opts.TLSVerify = &f.tlsVerify
	}
	if f.platform != "" {
		if opts.Platform, err = image.ParsePlatform(f.platform); err != nil {
			return err
		}
	}
	if f.os != "" {
		opts.Platform.OS = f.os
	}
	if f.arch != "" {
		opts.Platform.Arch = f.arch
	}
	if f.variant != "" {
		opts.Platform.Variant = f.variant
	}
	switch {
	case f.quiet:
	case term.IsTerminal(int(os.Stderr.Fd())):
		opts.Progress = image.BarProgress(os.Stderr)
	default:
		opts.Progress = image.LineProgress(os.Stderr)
	}
	if !f.quiet {
		opts.Warn = func(msg string) { fmt.Fprintf(os.Stderr, "WARN: %s\n", msg) }
	}
	img, err := image.Pull(cmd.Context(), s, args[0], opts)
	if opts.Progress != nil {
		opts.Progress.Wait()
	}
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
	s, done, err := engineStore(cmd, g)
	if done || err != nil {
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
	}
	if err := image.Save(cmd.Context(), s, args, f.format, out); err != nil {
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
	s, done, err := engineStore(cmd, g)
	if done || err != nil {
		return err
	}
	in := f.input
	if in == "" {
		tmp, err := os.CreateTemp("", "rless-load-*.tar")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, os.Stdin)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		in = tmp.Name()
	}
	opts := image.PullOptions{}
	if !f.quiet {
		opts.Progress = image.LineProgress(os.Stderr)
		opts.Warn = func(msg string) { fmt.Fprintf(os.Stderr, "WARN: %s\n", msg) }
	}
	imgs, err := image.Load(cmd.Context(), s, in, opts)
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
	quietLibraries(g)
	sys, err := image.Options{AuthFile: f.authFile}.SystemContext()
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("tls-verify") {
		sys, err = image.Options{AuthFile: f.authFile, TLSVerify: &f.tlsVerify}.SystemContext()
		if err != nil {
			return err
		}
	}
	registry := strings.TrimPrefix(strings.TrimPrefix(args[0], "https://"), "http://")
	registry = strings.TrimSuffix(registry, "/")
	if f.getLogin {
		auth, err := config.GetCredentials(sys, registry)
		if err != nil {
			return err
		}
		if auth.Username == "" {
			return fmt.Errorf("not logged into %s", registry)
		}
		fmt.Println(auth.Username)
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
	if err := docker.CheckAuth(cmd.Context(), sys, user, password, registry); err != nil {
		return fmt.Errorf("log in to %s: %w", registry, err)
	}
	if _, err := config.SetCredentials(sys, registry, user, password); err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	fmt.Println("Login Succeeded!")
	return nil
}

func runLogout(cmd *cobra.Command, g *globals, f *loginFlags, args []string) error {
	quietLibraries(g)
	sys, err := image.Options{AuthFile: f.authFile}.SystemContext()
	if err != nil {
		return err
	}
	if f.all {
		if err := config.RemoveAllAuthentication(sys); err != nil {
			return err
		}
		fmt.Println("Removed login credentials for all registries")
		return nil
	}
	registry := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(args[0], "https://"), "http://"), "/")
	if err := config.RemoveAuthentication(sys, registry); err != nil {
		if errors.Is(err, config.ErrNotLoggedIn) {
			return fmt.Errorf("not logged into %s", registry)
		}
		return err
	}
	fmt.Printf("Removed login credentials for %s\n", registry)
	return nil
}

// engineStore enters the user namespace (done reports that the command
// ran there and this process has nothing left to do) and opens the store.
func engineStore(cmd *cobra.Command, g *globals) (*store.Store, bool, error) {
	s, done, err := storeInUserNS(cmd, g)
	if !done {
		quietLibraries(g)
	}
	return s, done, err
}

// quietLibraries keeps containers/image's informational logging (logrus)
// out of the output unless --log-level asks for it.
func quietLibraries(g *globals) {
	switch g.logLevel {
	case "debug":
		logrus.SetLevel(logrus.DebugLevel)
	case "info":
		logrus.SetLevel(logrus.InfoLevel)
	default:
		logrus.SetLevel(logrus.ErrorLevel)
	}
}
