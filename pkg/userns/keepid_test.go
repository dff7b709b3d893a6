package userns

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestKeepID(t *testing.T) {
	def := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	got, err := KeepID(def, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.LinuxIDMapping{
		{ContainerID: 0, HostID: 100000, Size: 1000},
		{ContainerID: 1000, HostID: 1000, Size: 1},
		{ContainerID: 1001, HostID: 101000, Size: 64536},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("KeepID = %+v\nwant %+v", got, want)
	}
	// Two ranges, the kept id in the second.
	two := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 10}, {ContainerID: 11, HostID: 200000, Size: 10}}
	got, _ = KeepID(two, 15)
	want = []specs.LinuxIDMapping{
		{ContainerID: 0, HostID: 100000, Size: 10},
		{ContainerID: 10, HostID: 200000, Size: 5},
		{ContainerID: 15, HostID: 1000, Size: 1},
		{ContainerID: 16, HostID: 200005, Size: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("KeepID two ranges = %+v\nwant %+v", got, want)
	}
	if _, err := KeepID(def, 70000); err == nil {
		t.Error("an id beyond the range: no error")
	}
}
