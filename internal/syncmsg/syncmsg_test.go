package syncmsg

import (
	"io"
	"os"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	for _, m := range []Msg{{}, {Type: Mapped}, {Type: Failed, Error: "executable file \"x\" not found", Code: 127}, {Type: Started, Pid: 1 << 22}, {Code: -1}, {Type: Exec, Data: `{"args":["sh"]}`}} {
		got, err := decode(encode(m))
		if err != nil || got != m {
			t.Errorf("decode(encode(%+v)) = %+v, %v", m, got, err)
		}
	}
	good := encode(Msg{Type: Failed, Error: "boom", Code: 125, Pid: 7})
	for i := 0; i < len(good); i++ {
		if _, err := decode(good[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	if _, err := decode(append(good, 0)); err == nil {
		t.Error("trailing byte: no error")
	}
	withData := encode(Msg{Type: Exec, Data: "{}"})
	if _, err := decode(append(withData, 0)); err == nil {
		t.Error("trailing byte after data: no error")
	}
}

func TestPairCarriesMessagesAndFDs(t *testing.T) {
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := a.Send(Msg{Type: PTY}, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	m, fds, err := b.Recv()
	if err != nil || m.Type != PTY || len(fds) != 1 {
		t.Fatalf("got %+v %v %v", m, fds, err)
	}
	os.NewFile(uintptr(fds[0]), "passed").Close()
	b.Close()
	if _, _, err := a.Recv(); err != io.EOF {
		t.Errorf("after the peer closed: %v, want io.EOF", err)
	}
}

func TestLimit(t *testing.T) {
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	big := Msg{Type: Exec, Data: string(make([]byte, 10000))}
	if err := a.Send(big); err == nil {
		t.Fatal("a message over the default limit was sent")
	}
	a.SetLimit(MaxLimit)
	if err := a.Send(big); err != nil {
		t.Fatal(err)
	}
	// The receiver's limit is the default: the message is truncated.
	if _, _, err := b.Recv(); err == nil {
		t.Fatal("a truncated message was received")
	}
	b.SetLimit(MaxLimit)
	if err := a.Send(big); err != nil {
		t.Fatal(err)
	}
	if m, _, err := b.Recv(); err != nil || m != big {
		t.Fatalf("got %d bytes of data, %v", len(m.Data), err)
	}
}
