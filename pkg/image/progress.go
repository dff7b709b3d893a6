package image

import (
	"fmt"
	"io"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Progress receives the steps of a pull, podman's way.
type Progress interface {
	Trying(name string)                          // a registry candidate is tried
	Signatures()                                 // the source is open
	Blob(digest string, size int64) BlobProgress // a layer is fetched
	Skipped(digest string)                       // a layer is already present
	Config(digest string)                        // the config is stored
	Writing()                                    // the image enters the store
	Wait()                                       // the pull is over: flush
}

// BlobProgress follows one blob.
type BlobProgress interface {
	Add(n int)      // n more bytes arrived
	Done(err error) // finished, err nil on success
}

type nopProgress struct{}

func (nopProgress) Trying(string)                   {}
func (nopProgress) Signatures()                     {}
func (nopProgress) Blob(string, int64) BlobProgress { return nopBlob{} }
func (nopProgress) Skipped(string)                  {}
func (nopProgress) Config(string)                   {}
func (nopProgress) Writing()                        {}
func (nopProgress) Wait()                           {}

type nopBlob struct{}

func (nopBlob) Add(int)    {}
func (nopBlob) Done(error) {}

// LineProgress reports a pull as plain lines on w, as podman does when its
// output is not a terminal.
func LineProgress(w io.Writer) Progress { return &lines{w: w} }

type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

func (l *lines) Trying(name string) { l.printf("Trying to pull %s...", name) }
func (l *lines) Signatures()        { l.printf("Getting image source signatures") }
func (l *lines) Blob(d string, _ int64) BlobProgress {
	l.printf("Copying blob %s", d)
	return nopBlob{}
}
func (l *lines) Skipped(d string) { l.printf("Copying blob %s skipped: already exists", d) }
func (l *lines) Config(d string)  { l.printf("Copying config %s", d) }
func (l *lines) Writing()         { l.printf("Writing manifest to image destination") }
func (l *lines) Wait()            {}

// BarProgress reports a pull with a progress bar per layer on w, a
// terminal.
func BarProgress(w io.Writer) Progress {
	return &bars{lines: lines{w: w}}
}

type bars struct {
	lines
	once sync.Once
	p    *mpb.Progress
}

func (b *bars) progress() *mpb.Progress {
	b.once.Do(func() { b.p = mpb.New(mpb.WithOutput(b.w), mpb.WithWidth(40)) })
	return b.p
}

func (b *bars) Blob(d string, size int64) BlobProgress {
	name := "Copying blob " + shortDigest(d)
	bar := b.progress().AddBar(max(size, 0),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.OnComplete(decor.CountersKibiByte("%.1f / %.1f"), "done")),
	)
	return &blobBar{bar: bar, known: size > 0}
}

func (b *bars) Skipped(d string) {
	bar := b.progress().AddBar(0, mpb.PrependDecorators(decor.Name("Copying blob "+shortDigest(d)+" skipped: already exists")))
	bar.SetTotal(-1, true)
}

func (b *bars) Config(d string) {
	b.Wait()
	b.lines.Config(d)
}

func (b *bars) Wait() {
	if b.p != nil {
		b.p.Wait()
		b.p = nil
		b.once = sync.Once{}
	}
}

type blobBar struct {
	bar   *mpb.Bar
	known bool
}

func (b *blobBar) Add(n int) { b.bar.IncrBy(n) }

func (b *blobBar) Done(err error) {
	if err != nil {
		b.bar.Abort(false)
		return
	}
	b.bar.SetTotal(-1, true)
}

func shortDigest(d string) string {
	if len(d) > 7+12 {
		return d[7 : 7+12]
	}
	return d
}
