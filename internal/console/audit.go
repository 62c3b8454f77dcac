package console

// auditRoutes registers the pages of this file.
func (c *Console) auditRoutes() {}
