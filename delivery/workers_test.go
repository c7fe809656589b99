package delivery

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWorkersReuse: a worker that finished its task takes the next one handed off, the most recently idle first, and
// only when none is idle does handOff say so; once ctx is done, idle workers exit.
func TestWorkersReuse(t *testing.T) {
	var w workers
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ran := make(chan [2]string, 16) // worker, task
	idle := make(chan struct{}, 16) // a worker is idle once its done has run
	start := func(name string, first Task) {
		wg.Go(func() {
			w.run(ctx, first, func(t Task) { ran <- [2]string{name, t.DeliveryID} }, func() { idle <- struct{}{} })
		})
	}
	idleNow := func() { <-idle }
	if w.handOff(Task{DeliveryID: "d0"}) {
		t.Fatal("handOff succeeded with no worker")
	}
	start("a", Task{DeliveryID: "d1"})
	if got := <-ran; got != [2]string{"a", "d1"} {
		t.Fatalf("ran %v", got)
	}
	idleNow()
	for i := 2; i <= 4; i++ {
		id := fmt.Sprintf("d%d", i)
		if !w.handOff(Task{DeliveryID: id}) {
			t.Fatalf("no idle worker for %s", id)
		}
		if got := <-ran; got != [2]string{"a", id} {
			t.Fatalf("ran %v, want worker a with %s", got, id)
		}
		idleNow()
	}
	// Two idle: the one idle last gets the task.
	start("b", Task{DeliveryID: "d5"})
	<-ran
	idleNow()
	if !w.handOff(Task{DeliveryID: "d6"}) {
		t.Fatal("no idle worker for d6")
	}
	if got := <-ran; got != [2]string{"b", "d6"} {
		t.Fatalf("ran %v, want worker b, the one idle last, with d6", got)
	}
	idleNow()
	cancel()
	wg.Wait()
	if w.handOff(Task{DeliveryID: "d7"}) {
		t.Fatal("a worker took a task after ctx was done")
	}
	if len(w.idle) != 0 {
		t.Fatalf("%d workers left idle after ctx was done", len(w.idle))
	}
}

// TestWorkersIdleExitRace: workers whose idle wait ends while tasks are handed to them run every task handed off
// exactly once, and exit once nothing comes.
func TestWorkersIdleExitRace(t *testing.T) {
	w := workers{wait: time.Microsecond}
	var wg sync.WaitGroup
	var runs sync.Map
	var n atomic.Int64
	do := func(t Task) {
		if _, dup := runs.LoadOrStore(t.DeliveryID, true); dup {
			panic("task ran twice: " + t.DeliveryID)
		}
		n.Add(1)
	}
	const tasks = 20000
	for i := range tasks {
		tk := Task{DeliveryID: fmt.Sprint(i)}
		if !w.handOff(tk) {
			wg.Go(func() { w.run(context.Background(), tk, do, func() {}) })
		}
	}
	wg.Wait() // every worker exits after its idle wait
	if got := n.Load(); got != tasks {
		t.Fatalf("%d tasks ran, want %d", got, tasks)
	}
	if len(w.idle) != 0 {
		t.Fatalf("%d workers left idle after exiting", len(w.idle))
	}
}
