// Package logbuf gathers a process's log lines in memory and writes them out together: at most a short delay after
// the first line of a batch, as soon as the batch is large, and at once when a line is a warning or an error.
//
// A gateway at info level logs two lines per delivery (the publish request and the attempt). Written one by one,
// they are two write calls per delivery, which at a light load cost as much as a tenth of the delivery's work; a
// batch a tenth of a second long makes them a few calls a second. The price is that a crash (kill -9, a fatal
// runtime error) loses the lines of its last batch: the log is a record for people, never the source of truth of
// a delivery, which is the store.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Defaults of New.
const (
	DefaultDelay = 100 * time.Millisecond
	DefaultSize  = 64 << 10
)

// Writer buffers what is written to it and writes it to the underlying writer in batches. It is safe for concurrent
// use. A Write waits on the underlying writer only when it writes the batch itself: one it would overflow, or one
// three quarters of the delay old.
type Writer struct {
	w     io.Writer
	delay time.Duration
	size  int

	mu    sync.Mutex // guards the fields below and serialises writes to w
	buf   []byte
	timer *time.Timer // armed while buf holds lines
	armed bool
	since time.Time // when the batch's first line came
	err   error     // the first error of a batch written by the timer, returned by the next Flush
}

// New returns a Writer over w that writes a batch at most delay after its first line (DefaultDelay when delay <= 0)
// and as soon as it holds size bytes (DefaultSize when size <= 0). Close flushes it and stops its timer.
//
// A line that comes when its batch is three quarters of delay old writes the batch itself, so that under a steady
// flow of lines the timer, a wake-up of the process of its own, seldom fires: it writes the last batch of a burst.
func New(w io.Writer, delay time.Duration, size int) *Writer {
	if delay <= 0 {
		delay = DefaultDelay
	}
	if size <= 0 {
		size = DefaultSize
	}
	b := &Writer{w: w, delay: delay, size: size, buf: make([]byte, 0, size)}
	b.timer = time.AfterFunc(time.Hour, b.timed)
	b.timer.Stop()
	return b
}

// Write keeps a copy of p for the next batch. It writes the batch first when p would overflow it, and p directly
// when p alone is as large as a batch; an error of that write is returned with p kept or written.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if len(b.buf)+len(p) > b.size {
		err = b.flushLocked()
		if len(p) >= b.size {
			n, werr := b.w.Write(p)
			if werr != nil {
				err = werr
			}
			return n, err
		}
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.since = time.Now()
		b.timer.Reset(b.delay)
	} else if time.Since(b.since) >= b.delay*3/4 {
		if ferr := b.flushLocked(); err == nil {
			err = ferr
		}
	}
	return len(p), err
}

// Flush writes what is buffered now.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.flushLocked()
	if err == nil {
		err, b.err = b.err, nil
	}
	return err
}

// Close flushes the buffer and stops the timer. Later writes are still buffered; call Flush after them.
func (b *Writer) Close() error {
	err := b.Flush()
	b.mu.Lock()
	b.timer.Stop()
	b.armed = false
	b.mu.Unlock()
	return err
}

func (b *Writer) timed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.flushLocked(); err != nil && b.err == nil {
		b.err = err
	}
}

func (b *Writer) flushLocked() error {
	if b.armed {
		b.timer.Stop()
		b.armed = false
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Handler wraps h, whose output goes to w, so that a record at level or above is written out at once, with every
// line buffered before it.
func Handler(h slog.Handler, w *Writer, level slog.Level) slog.Handler {
	return &flushing{h: h, w: w, level: level}
}

type flushing struct {
	h     slog.Handler
	w     *Writer
	level slog.Level
}

func (f *flushing) Enabled(ctx context.Context, l slog.Level) bool { return f.h.Enabled(ctx, l) }

func (f *flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.h.Handle(ctx, r)
	if r.Level >= f.level {
		if ferr := f.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (f *flushing) WithAttrs(as []slog.Attr) slog.Handler {
	return &flushing{h: f.h.WithAttrs(as), w: f.w, level: f.level}
}

func (f *flushing) WithGroup(name string) slog.Handler {
	return &flushing{h: f.h.WithGroup(name), w: f.w, level: f.level}
}
