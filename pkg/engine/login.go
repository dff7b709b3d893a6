//go:build !rless_lean

package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/rless/rless/pkg/image"
	"github.com/rless/rless/pkg/reexec"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/pkg/docker/config"
	"go.podman.io/image/v5/types"
)

// The login functions, on containers/image. They run as the user, outside
// any namespace, where the credentials files are.
var (
	loginFunc = reexec.Register("image.login", func(ctx context.Context, a loginArgs) (struct{}, error) {
		sys, err := loginContext(a)
		if err != nil {
			return struct{}{}, err
		}
		if err := docker.CheckAuth(ctx, sys, a.User, a.Password, a.Registry); err != nil {
			return struct{}{}, fmt.Errorf("log in to %s: %w", a.Registry, err)
		}
		if _, err := config.SetCredentials(sys, a.Registry, a.User, a.Password); err != nil {
			return struct{}{}, fmt.Errorf("store credentials: %w", err)
		}
		return struct{}{}, nil
	})
	loginNameFunc = reexec.Register("image.login-name", func(ctx context.Context, a loginArgs) (string, error) {
		sys, err := loginContext(a)
		if err != nil {
			return "", err
		}
		auth, err := config.GetCredentials(sys, a.Registry)
		return auth.Username, err
	})
	logoutFunc = reexec.Register("image.logout", func(ctx context.Context, a loginArgs) (struct{}, error) {
		sys, err := loginContext(a)
		if err != nil {
			return struct{}{}, err
		}
		if a.All {
			return struct{}{}, config.RemoveAllAuthentication(sys)
		}
		err = config.RemoveAuthentication(sys, a.Registry)
		if errors.Is(err, config.ErrNotLoggedIn) {
			return struct{}{}, fmt.Errorf("not logged into %s", a.Registry)
		}
		return struct{}{}, err
	})
)

func loginContext(a loginArgs) (*types.SystemContext, error) {
	quietLibraries()
	return image.Options{AuthFile: a.Options.AuthFile, TLSVerify: a.Options.TLSVerify}.SystemContext()
}
