// Package sandbox runs a developer's tools in a project so that they can
// change the project and nothing else, and reach only the hosts they
// should: `rless sandbox`, as a library.
//
// A sandbox is a container built from a [Profile] (flags, or a project's
// .rless/sandbox.toml read by [LoadProfile]):
//
//   - Files: the host's root read-only (or an image's); the project
//     directory read-write at its own path; $HOME an empty private
//     directory, kept per project under the store unless Ephemeral; /tmp,
//     /var/tmp, /run, /home, /mnt and /media private and empty, so no other
//     user's files, no session sockets (D-Bus, ssh-agent, X11, Wayland) and
//     no other mounts show; ~/.gitconfig read-only when it exists; more with
//     RO and RW. Inside the project the paths of [Protected] (those that
//     run code later: git hooks and config, direnv, editors' task files,
//     the sandbox's own profile) are read-only unless AllowWrite names them.
//   - Network: "allowlist" (the default) connects only to the Allow
//     entries, enforced packet by packet in rless's own network stack (see
//     network.Egress); "none"; "full" (the built-in network, the host's
//     loopback unreachable). Refused attempts go to a log file.
//   - Environment: only the variables of [PassedEnv], and those Env sets
//     and PassEnv names: tokens and keys stay out.
//   - Processes: own PID, IPC, UTS, mount and network namespaces; seccomp
//     and capabilities as containers have them; with a subordinate id range
//     the tools run as the user's own uid (keep-id), else as root of the
//     sandbox, which is the user on the host.
//
// [New] makes an engine.Config of a Profile; [Sandbox.Run] runs it. With
// Profile.KeepRunning the command runs instead in the project's kept
// sandbox ([Sandbox.Start], [Sandbox.Exec]), which outlives it with what
// it left in the background until [Stop].
package sandbox
