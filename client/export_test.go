package client

// SetPageSize sets the page size the iterators ask for, so that a test walks several pages; it returns the undo.
func SetPageSize(n int) (undo func()) {
	old := pageSize
	pageSize = n
	return func() { pageSize = old }
}
