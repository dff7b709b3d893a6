// Package benchio holds what the benchmark programs under bench/ share.
package benchio

import (
	"encoding/json"
	"fmt"
	"os"
)

// WriteJSON writes the report v as indented JSON to path, unless path is
// "", and says so on stdout.
func WriteJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("results written to %s\n", path)
	return nil
}
