package endpoints

// Ordering on failure: what a delivery with an ordering key (package delivery, ordering.go) that ends without
// success does to the deliveries of its key waiting behind it.
const (
	// OrderingSkip (the default, stored as "") lets the next delivery of the key go after a dead or failed one.
	OrderingSkip = "skip"
	// OrderingBlock keeps the key held behind a dead or failed delivery until the tenant retries or skips it.
	OrderingBlock = "block"
)

// BlocksOnFailure reports whether the endpoint keeps an ordering key held behind a delivery that ended dead or
// failed (OrderingOnFailure is OrderingBlock).
func (e *Endpoint) BlocksOnFailure() bool { return e.OrderingOnFailure == OrderingBlock }

// orderingOnFailure checks a given ordering_on_failure and returns it as stored: "" for skip.
func orderingOnFailure(v string) (string, error) {
	switch v {
	case "", OrderingSkip:
		return "", nil
	case OrderingBlock:
		return OrderingBlock, nil
	}
	return "", fieldErr("ordering_on_failure", "%q: must be %q or %q", clip(v), OrderingSkip, OrderingBlock)
}
