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
