package endpoints

// Waiting tells how many callers wait for a load under way of the tenant's fan-out list (listing) or of one of its
// endpoints (id).
func (c *CachedStore) Waiting(tenantID, id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" {
		if f := c.listing[tenantID]; f != nil {
			return f.waiters
		}
		return 0
	}
	if f := c.getting[cacheKey{tenantID, id}]; f != nil {
		return f.waiters
	}
	return 0
}
