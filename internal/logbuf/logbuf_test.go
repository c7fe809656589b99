package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink is the underlying writer: it records every write as one call and signals each.
type sink struct {
	mu     sync.Mutex
	calls  []string
	wrote  chan struct{}
	failed error
}

func newSink() *sink { return &sink{wrote: make(chan struct{}, 1000)} }

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.calls = append(s.calls, string(p))
	err := s.failed
	s.mu.Unlock()
	s.wrote <- struct{}{}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *sink) written() (calls []string, all string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...), strings.Join(s.calls, "")
}

// twoLines writes two lines to a new Writer over a sink, with delay, closed when the test ends; start is when the
// first line was written.
func twoLines(t *testing.T, delay time.Duration, first, second string) (s *sink, w *Writer, start time.Time) {
	s = newSink()
	w = New(s, delay, 0)
	t.Cleanup(func() { w.Close() })
	start = time.Now()
	w.Write([]byte(first))
	w.Write([]byte(second))
	return s, w, start
}

func TestLinesWaitForFlush(t *testing.T) {
	s := newSink()
	w := New(s, time.Hour, 0)
	defer w.Close()
	line := []byte("a line\n")
	if n, err := w.Write(line); n != len(line) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	copy(line, "CHANGED") // the writer keeps its own copy
	w.Write([]byte("another\n"))
	if calls, _ := s.written(); len(calls) != 0 {
		t.Fatalf("written before a flush: %q", calls)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	calls, _ := s.written()
	if len(calls) != 1 || calls[0] != "a line\nanother\n" {
		t.Fatalf("after Flush: %q, want one write of both lines", calls)
	}
	if err := w.Flush(); err != nil { // nothing buffered: no empty write
		t.Fatal(err)
	}
	if calls, _ := s.written(); len(calls) != 1 {
		t.Fatalf("an empty flush wrote: %q", calls)
	}
}

func TestTimerWritesBatch(t *testing.T) {
	const delay = 30 * time.Millisecond
	s, w, start := twoLines(t, delay, "one\n", "two\n")
	select {
	case <-s.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the timer never wrote the batch")
	}
	if el := time.Since(start); el < delay {
		t.Errorf("batch written after %v, before its delay of %v", el, delay)
	}
	if calls, _ := s.written(); len(calls) != 1 || calls[0] != "one\ntwo\n" {
		t.Fatalf("timer wrote %q, want both lines in one write", calls)
	}
	// The next line arms the timer again.
	w.Write([]byte("three\n"))
	select {
	case <-s.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the second batch was never written")
	}
	if _, all := s.written(); all != "one\ntwo\nthree\n" {
		t.Fatalf("written %q", all)
	}
}

func TestFullBatchWrittenFirst(t *testing.T) {
	s := newSink()
	w := New(s, time.Hour, 10)
	defer w.Close()
	w.Write([]byte("12345\n"))                 // 6 bytes
	w.Write([]byte("6789\n"))                  // 11 > 10: the first line goes out first
	w.Write([]byte("a line longer than 10\n")) // as large as a batch: straight through, after what was buffered
	w.Flush()
	calls, _ := s.written()
	want := []string{"12345\n", "6789\n", "a line longer than 10\n"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("writes %q, want %q", calls, want)
	}
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	s := newSink()
	w := New(s, time.Millisecond, 256)
	var wg sync.WaitGroup
	const writers, lines = 8, 200
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				fmt.Fprintf(w, "writer %d line %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, all := s.written()
	got := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines written, want %d", len(got), writers*lines)
	}
	next := make([]int, writers)
	for _, l := range got {
		var g, i int
		if _, err := fmt.Sscanf(l, "writer %d line %d", &g, &i); err != nil {
			t.Fatalf("torn line %q", l)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
}

func TestWarningFlushesEverythingBefore(t *testing.T) {
	s := newSink()
	w := New(s, time.Hour, 0)
	defer w.Close()
	log := slog.New(Handler(slog.NewTextHandler(w, nil), w, slog.LevelWarn)).With("component", "test")
	log.Info("routine")
	if calls, _ := s.written(); len(calls) != 0 {
		t.Fatalf("an info line was written at once: %q", calls)
	}
	log.WithGroup("g").Warn("trouble", "k", "v")
	calls, all := s.written()
	if len(calls) != 1 {
		t.Fatalf("after a warning: %d writes, want the batch in one", len(calls))
	}
	if i, j := strings.Index(all, "msg=routine"), strings.Index(all, "msg=trouble"); i < 0 || j < i {
		t.Fatalf("want the info line, then the warning: %q", all)
	}
	if !strings.Contains(all, "component=test") || !strings.Contains(all, "g.k=v") {
		t.Fatalf("attributes or groups lost by the wrapper: %q", all)
	}
}

func TestTimerErrorReportedByFlush(t *testing.T) {
	s := newSink()
	boom := errors.New("disk full")
	s.failed = boom
	w := New(s, time.Millisecond, 0)
	w.Write([]byte("lost\n"))
	<-s.wrote
	// The timer's write failed. It holds the writer's lock until it has kept the error, so the next Flush reports
	// it, once.
	err := w.Flush()
	if !errors.Is(err, boom) {
		t.Fatalf("Flush = %v, want %v", err, boom)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("the error was reported twice: %v", err)
	}
}

func TestCloseFlushes(t *testing.T) {
	var out bytes.Buffer
	w := New(&out, time.Hour, 0)
	w.Write([]byte("last words\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "last words\n" {
		t.Fatalf("after Close: %q", out.String())
	}
}

// TestLateLineWritesBatch: a line that finds its batch three quarters of the delay old writes the batch at once, and
// stops the timer, which would otherwise wake the process for it.
func TestLateLineWritesBatch(t *testing.T) {
	const delay = 200 * time.Millisecond
	s, w, start := twoLines(t, delay, "early\n", "soon after\n")
	if calls, _ := s.written(); len(calls) != 0 && time.Since(start) < delay*3/4 {
		t.Fatalf("a young batch was written: %q", calls)
	}
	time.Sleep(time.Until(start.Add(delay * 3 / 4))) // the batch ages: the behaviour under test is its age
	w.Write([]byte("late\n"))
	calls, _ := s.written()
	if len(calls) != 1 || calls[0] != "early\nsoon after\nlate\n" {
		t.Fatalf("after a late line: %q, want the batch with it in one write", calls)
	}
	w.mu.Lock()
	armed := w.armed
	w.mu.Unlock()
	if armed {
		t.Error("the timer is still armed for a batch already written")
	}
}
