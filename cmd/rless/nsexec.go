package main

import (
	"os"
	"strconv"

	"github.com/rless/rless/pkg/store"
	"github.com/rless/rless/pkg/userns"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// inUserNSEnv marks a copy of rless re-executed inside the user namespace.
const inUserNSEnv = "_RLESS_USERNS"

// inUserNS runs this very command line again inside the user's mapping
// (as `rless unshare rless ...`) unless it already runs there, for commands
// that write or remove files of subordinate ids. It returns done=true with
// the outcome when it ran the command; false means: go on, you are inside.
func inUserNS(cmd *cobra.Command, g *globals) (bool, error) {
	if os.Getenv(inUserNSEnv) == "1" {
		// Die with the rless outside, as a container would.
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
		if os.Getppid() == 1 {
			os.Exit(125)
		}
		return false, nil
	}
	host, _, err := detectMapping(g)
	if err != nil {
		return true, err
	}
	return true, reexecInUserNS(cmd, host, os.Args[1:])
}

// reexecInUserNS runs rless with args inside host's default mapping for the
// user (see inUserNS), and returns its exit status as an exitError.
func reexecInUserNS(cmd *cobra.Command, host *userns.Host, args []string) error {
	mapping, _ := host.Mapping()
	argv := append([]string{"/proc/self/exe"}, args...)
	// containers/image asks these (as podman sets them) whether it runs
	// for a rootless user, to pick per-user rather than system paths.
	env := append(os.Environ(), inUserNSEnv+"=1",
		"_CONTAINERS_ROOTLESS_UID="+strconv.Itoa(os.Getuid()),
		"_CONTAINERS_ROOTLESS_GID="+strconv.Itoa(os.Getgid()),
		"_CONTAINERS_USERNS_CONFIGURED=done")
	code, err := userns.Unshare(cmd.Context(), host, mapping, argv, env)
	if err == nil && code != 0 {
		err = exitError{code} // it said why
	}
	return err
}

// storeInUserNS is inUserNS followed, inside, by opening the store: for
// the commands that remove or read files of subordinate ids. done reports
// that the command ran in the re-executed copy and nothing is left to do.
func storeInUserNS(cmd *cobra.Command, g *globals) (s *store.Store, done bool, err error) {
	if done, err := inUserNS(cmd, g); done {
		return nil, true, err
	}
	s, err = openStore(g)
	return s, false, err
}
