package engine

import (
	"strings"
	"testing"

	"github.com/rless/rless/pkg/userns"
)

// TestKeepIDUser: keep-id's user takes the image's entry of its uid when
// there is one, else gets one added to the image's /etc/passwd.
func TestKeepIDUser(t *testing.T) {
	host := &userns.Host{User: "dev", UID: 1000, GID: 1000}
	k := &KeepID{UID: -1, GID: -1}
	u, home, withUser := keepIDUser(k, host, []byte("root:x:0:0:root:/root:/bin/sh\nme:x:1000:1000::/home/me:/bin/sh\n"))
	if u.UID != 1000 || u.GID != 1000 || home != "/home/me" || withUser != nil {
		t.Errorf("an image with the uid: %+v %q %q", u, home, withUser)
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh") // no final newline
	k = &KeepID{UID: 1234, GID: 55}
	u, home, withUser = keepIDUser(k, host, passwd)
	want := "root:x:0:0:root:/root:/bin/sh\ndev:*:1234:55:dev:" + home + ":/bin/sh\n"
	if u.UID != 1234 || u.GID != 55 || home == "" || string(withUser) != want {
		t.Errorf("an image without the uid: %+v %q\n%s\nwant\n%s", u, home, withUser, want)
	}
	if string(passwd) != "root:x:0:0:root:/root:/bin/sh" {
		t.Errorf("the image's passwd was changed: %q", passwd)
	}
	if _, _, withUser := keepIDUser(k, host, nil); withUser != nil {
		t.Errorf("an image without /etc/passwd gets one: %q", withUser)
	}
	if _, _, withUser := keepIDUser(k, &userns.Host{UID: 1000}, []byte{}); !strings.HasPrefix(string(withUser), "user:*:1234:55:user:") {
		t.Errorf("a user without a name: %q", withUser)
	}
}
