package main

import (
	"fmt"
	"os"
	"runtime"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// versionInfo is what `rless version` reports, under podman's names.
type versionInfo struct {
	Client clientVersion
}

// clientVersion is podman's Client section of `version`.
type clientVersion struct {
	Version   string
	GoVersion string
	OsArch    string
	Os        string
}

func newVersionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show rless's version",
		Long: `Show rless's version, the Go version it was built with and the platform,
as podman's "version" does (--format json, or a Go template such as
'{{.Client.Version}}').`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := versionInfo{Client: clientVersion{
				Version: version, GoVersion: runtime.Version(),
				OsArch: runtime.GOOS + "/" + runtime.GOARCH, Os: runtime.GOOS,
			}}
			switch {
			case isJSONFormat(format):
				return printJSON(v)
			case format != "":
				r, err := parseReport("version", format, "")
				if err != nil {
					return err
				}
				return r.write(os.Stdout, []versionInfo{v}, nil, true)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 1, ' ', 0)
			fmt.Fprintf(w, "Version:\t%s\nGo Version:\t%s\nOS/Arch:\t%s\n", v.Client.Version, v.Client.GoVersion, v.Client.OsArch)
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "json, or a Go template (fields as podman's: {{.Client.Version}})")
	return cmd
}
