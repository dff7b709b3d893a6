package slirp

import (
	"reflect"
	"testing"
)

func TestHostResolvers(t *testing.T) {
	got, err := hostResolvers([]string{"127.0.0.53", "127.0.0.1:5353", "::1", "[fe80::1%eth0]:53"})
	want := []string{"127.0.0.53:53", "127.0.0.1:5353", "[::1]:53", "[fe80::1%eth0]:53"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("hostResolvers = %v, %v; want %v", got, err, want)
	}
	if _, err := hostResolvers([]string{"dns.example"}); err == nil {
		t.Error("hostResolvers accepted a name")
	}
}
