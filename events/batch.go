package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// MaxBatchEvents is the most events one PublishBatch takes.
const MaxBatchEvents = 500

// batchConcurrency is how many store publishes one PublishBatch runs at once, and manyChunk how many events it hands
// a ManyPublisher at once.
const (
	batchConcurrency = 16
	manyChunk        = 64
)

// BatchResult is what Publish would have returned for one event of a batch.
type BatchResult struct {
	Message  *delivery.Message // the stored message, or the earlier one of an idempotent repeat
	Fanout   int               // the number of deliveries of Message
	Existing bool              // an idempotent repeat: nothing was written for this event
}

// PublishBatch publishes 1 to MaxBatchEvents events of one tenant, each as Publish would, and returns their results
// in input order. Every event is validated before anything is stored: the first invalid one fails the batch with a
// *FieldError whose field is prefixed "events[i]." (an empty or oversized batch is a *FieldError on "events"). The
// tenant's endpoints are listed once for the whole batch, and the events are stored concurrently (by a store that is
// a ManyPublisher, manyChunk at a time in one call each), each atomically with its deliveries. An ID (idempotency key)
// repeated within the batch is published once: later events with it get the first one's result with Existing set.
//
// The batch is not atomic. When a store call fails, PublishBatch returns an error wrapping the failure of the lowest
// failed event, and the events stored before it was seen stay stored (and are delivered). Retrying the whole batch
// is then safe for events with an ID, which the retry answers as repeats, and may duplicate events without one:
// exactly as retrying a single Publish. The caller is responsible for the tenant existing.
func (s *Service) PublishBatch(ctx context.Context, tenantID string, ins []PublishInput) ([]BatchResult, error) {
	if len(ins) == 0 || len(ins) > MaxBatchEvents {
		return nil, &FieldError{Field: "events", Message: fmt.Sprintf("must hold 1 to %d events, got %d", MaxBatchEvents, len(ins))}
	}
	now := s.cfg.Now().UTC()
	msgs := make([]*delivery.Message, len(ins))
	first := make([]int, len(ins)) // the event whose result event i takes: itself, or the first with its ID
	byID := make(map[string]int)
	for i, in := range ins {
		m, err := newMessage(tenantID, in, now)
		if fe, ok := errors.AsType[*FieldError](err); ok {
			return nil, &FieldError{Field: fmt.Sprintf("events[%d].%s", i, fe.Field), Message: fe.Message}
		} else if de, ok := errors.AsType[*DataError](err); ok {
			return nil, &DataError{Field: fmt.Sprintf("events[%d].%s", i, de.Field), Offset: de.Offset, Message: de.Message}
		} else if err != nil {
			return nil, fmt.Errorf("publish batch: event %d: %w", i, err)
		}
		m.TraceParent = traceParent(ctx)
		if err := s.orderingKey(ctx, m, fmt.Sprintf("events[%d].", i)); err != nil {
			return nil, err
		}
		if err := s.checkSchema(ctx, m, in.SchemaVersion); err != nil {
			return nil, batchSchemaError(i, err)
		}
		msgs[i], first[i] = m, i
		if in.ID == "" {
			continue
		}
		if j, ok := byID[in.ID]; ok {
			first[i] = j
		} else {
			byID[in.ID] = i
		}
	}
	es, err := s.fanoutEndpoints(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("publish batch: %w", err)
	}

	res := make([]BatchResult, len(ins))
	errs := make([]error, len(ins))
	idemSince := now.Add(-s.cfg.IdempotencyWindow)
	if mp, ok := s.store.(ManyPublisher); ok {
		publishChunks(ctx, mp, msgs, first, es, now, idemSince, res, errs)
	} else {
		s.publishConcurrently(ctx, msgs, first, es, now, idemSince, res, errs)
	}

	queued := false
	for i, r := range res {
		queued = queued || (r.Message != nil && !r.Existing && r.Fanout > 0)
		if first[i] != i {
			res[i] = res[first[i]]
			res[i].Existing = true
		}
	}
	if queued {
		s.wake()
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("publish batch: event %d: %w", i, err)
		}
	}
	return res, nil
}

// publishConcurrently publishes the events of a batch (msgs[i] where first[i] == i) with up to batchConcurrency
// Publish calls at once, into res and errs; once one has failed, it starts no further one.
func (s *Service) publishConcurrently(ctx context.Context, msgs []*delivery.Message, first []int, es []*endpoints.Endpoint,
	now, idemSince time.Time, res []BatchResult, errs []error) {
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, batchConcurrency)
		failed atomic.Bool // once set, no further event is started
	)
	// The events of one ordering key go one at a time, in the batch's order; keys and unordered events go side by
	// side.
	for _, line := range keyLines(msgs, first) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, i := range line {
				if failed.Load() {
					return
				}
				stored, fanout, existing, err := s.store.Publish(ctx, msgs[i], deliveriesFor(msgs[i], es, now), idemSince)
				if err != nil {
					errs[i] = err
					failed.Store(true)
					return
				}
				res[i] = BatchResult{Message: stored, Fanout: fanout, Existing: existing}
			}
		})
	}
	for i, m := range msgs {
		if first[i] != i || m.OrderingKey != "" {
			continue
		}
		sem <- struct{}{}
		if failed.Load() {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			stored, fanout, existing, err := s.store.Publish(ctx, m, deliveriesFor(m, es, now), idemSince)
			if err != nil {
				errs[i] = err
				failed.Store(true)
				return
			}
			res[i] = BatchResult{Message: stored, Fanout: fanout, Existing: existing}
		})
	}
	wg.Wait()
}

// publishChunks publishes the events of a batch (msgs[i] where first[i] == i) through mp, manyChunk at a time, into
// res and errs; once a chunk had a failure, it hands over no further one.
func publishChunks(ctx context.Context, mp ManyPublisher, msgs []*delivery.Message, first []int, es []*endpoints.Endpoint,
	now, idemSince time.Time, res []BatchResult, errs []error) {
	ps := make([]Publication, 0, min(len(msgs), manyChunk))
	at := make([]int, 0, cap(ps)) // the event of each publication
	flush := func() bool {
		failed := false
		for j, p := range mp.PublishMany(ctx, ps) {
			i := at[j]
			if p.Err != nil {
				errs[i], failed = p.Err, true
				continue
			}
			res[i] = BatchResult{Message: p.Message, Fanout: p.Fanout, Existing: p.Existing}
		}
		ps, at = ps[:0], at[:0]
		return !failed
	}
	for i, m := range msgs {
		if first[i] != i {
			continue
		}
		ps = append(ps, Publication{Message: m, Deliveries: deliveriesFor(m, es, now), IdemSince: idemSince})
		at = append(at, i)
		if len(ps) == manyChunk && !flush() {
			return
		}
	}
	if len(ps) > 0 {
		flush()
	}
}

// keyLines groups the distinct events of a batch (msgs[i] where first[i] == i) that have an ordering key by key,
// each group in batch order.
func keyLines(msgs []*delivery.Message, first []int) [][]int {
	var (
		lines [][]int
		at    map[string]int
	)
	for i, m := range msgs {
		if first[i] != i || m.OrderingKey == "" {
			continue
		}
		if at == nil {
			at = map[string]int{}
		}
		j, ok := at[m.OrderingKey]
		if !ok {
			j = len(lines)
			at[m.OrderingKey] = j
			lines = append(lines, nil)
		}
		lines[j] = append(lines[j], i)
	}
	return lines
}
