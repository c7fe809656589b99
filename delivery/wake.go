package delivery

import "context"

// WakeSource is implemented by a Queue that several processes share and that can tell one process when another
// made work due (store/redisstore does, over Redis pub/sub). Run listens for as long as it runs and takes every signal as
// a Wake, so a replica idle until its next due time (bounded by IdleMax) still sends work that another replica
// enqueued or released at once.
type WakeSource interface {
	// Wakeups returns a channel that receives a value whenever work may have become due, until ctx ends; it is
	// closed after that.
	Wakeups(ctx context.Context) <-chan struct{}
}

// Doorbell is how work made due in this process reaches the engine at once: whoever makes deliveries due (the events
// service after a publish or a replay) calls Wake, and the engine that listens on it (Deps.Doorbell) ends its idle
// sleep. It exists apart from the Engine so that both sides can be built in either order: the events service takes
// the doorbell, the engine takes the doorbell and a Notifier that publishes through that events service, and
// neither needs the other first. Wake never blocks; rings while nobody listens fold into one.
type Doorbell struct{ c chan struct{} }

// NewDoorbell returns a doorbell nobody has rung.
func NewDoorbell() *Doorbell { return &Doorbell{c: make(chan struct{}, 1)} }

// Wake rings the doorbell. It never blocks and is safe to call at any time, from any goroutine.
func (d *Doorbell) Wake() { signal(d.c) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
