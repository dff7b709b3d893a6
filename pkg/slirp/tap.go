package slirp

import (
	"fmt"
	"os"
	"sync"

	"github.com/rless/rless/internal/pollbuf"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// tapLink is the container's tap device as the stack's link. gVisor's
// fdbased endpoint (embedded) writes frames to the tap and parses their
// headers, but it does not read: a goroutine of tapLink reads the tap
// through Go's poller and hands each frame to the stack in that goroutine.
//
// fdbased's own reader waits in a blocking poll(2) on a thread of its own
// and hands frames to processor goroutines: on a round trip, wake-ups of
// sleeping threads (futexes, and on a VM interrupts between its CPUs) that
// made one-byte round trips twice as long as through slirp4netns
// (BENCHMARKS.md, "Latency: the tap read through Go's poller"). Read
// through the poller, a frame is handled by the thread that was waiting in
// epoll, and the goroutines it wakes (the TCP endpoint's processor, the
// relay) run next on that thread, when the stack has one (GOMAXPROCS=1 in
// cmd/rless-netstack).
type tapLink struct {
	stack.LinkEndpoint // fdbased, created on the same tap without being attached

	file *os.File // a duplicate of the tap's descriptor, read through the poller
	size int      // the largest frame: the MTU and the Ethernet header

	mu       sync.Mutex
	attached bool          // the reader runs
	stopped  bool          // Attach(nil) was called: the reader is not started again
	done     chan struct{} // closed when the reader has ended, or was never started
}

// newTapLink returns the link of ep, an unattached fdbased endpoint on the
// descriptor of tap (made non-blocking by fdbased.New), for frames of up to
// mtu bytes of payload.
func newTapLink(ep stack.LinkEndpoint, tap *os.File, mtu int) (*tapLink, error) {
	fd, err := unix.FcntlInt(tap.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("slirp: duplicate the tap: %w", err)
	}
	// Non-blocking already (one open file description): os.NewFile adds
	// it to the poller.
	f := os.NewFile(uintptr(fd), "tap")
	return &tapLink{LinkEndpoint: ep, file: f, size: mtu + header.EthernetMinimumSize, done: make(chan struct{})}, nil
}

// Attach implements stack.LinkEndpoint: with a dispatcher it starts the
// reader, with nil (the NIC is removed) it stops it.
func (l *tapLink) Attach(d stack.NetworkDispatcher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d == nil {
		if l.stopped {
			return
		}
		l.stopped = true
		l.file.Close() // ends the reader's wait
		if !l.attached {
			close(l.done)
		}
		l.attached = false
		return
	}
	if l.attached || l.stopped {
		return
	}
	l.attached = true
	go l.read(d)
}

// IsAttached implements stack.LinkEndpoint.
func (l *tapLink) IsAttached() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attached
}

// Wait implements stack.LinkEndpoint. It does not wait for the reader:
// Stack.Wait calls it with the stack's lock held, which the reader may be
// waiting for to finish handing over a frame (a reset for an unknown
// destination looks up a route), and would never get. The reader's owner
// waits for it with waitReader once Stack.Wait has returned.
func (l *tapLink) Wait() {}

// waitReader returns once the reader has ended (after Attach(nil)), or at
// once if it never started.
func (l *tapLink) waitReader() {
	<-l.done
}

// read hands the frames of the tap to d until the tap's descriptor is
// closed or fails.
func (l *tapLink) read(d stack.NetworkDispatcher) {
	defer close(l.done)
	rc, err := l.file.SyscallConn()
	if err != nil {
		return
	}
	frames := framePool(l.size)
	for {
		b, n, err := frames.Read(rc)
		if err != nil { // closed (the NIC is being removed), or the tap is gone with its namespace
			frames.Put(b)
			return
		}
		buf := (*b)[:n]
		if n >= header.EthernetMinimumSize {
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(buf)})
			if l.LinkEndpoint.ParseHeader(pkt) && l.forUs(header.Ethernet(buf)) {
				d.DeliverNetworkPacket(pkt.NetworkProtocolNumber, pkt)
			}
			pkt.DecRef()
		}
		frames.Put(b)
	}
}

// framePools are the pools of tapLink.read's frame buffers, by size: the
// links of a supervisor's containers, idle most of the time, share them.
var framePools sync.Map

// framePool returns the pool of frame buffers of size bytes.
func framePool(size int) *pollbuf.Pool {
	if p, ok := framePools.Load(size); ok {
		return p.(*pollbuf.Pool)
	}
	p, _ := framePools.LoadOrStore(size, pollbuf.NewRaw(size)) // raw reads: see package rawio
	return p.(*pollbuf.Pool)
}

// forUs reports whether the frame is sent to the link's address, or to a
// group (multicast or broadcast).
func (l *tapLink) forUs(eth header.Ethernet) bool {
	dst := eth.DestinationAddress()
	return dst == l.LinkAddress() || dst[0]&0x01 == 1
}
