package console

// adminRoutes registers the pages of this file.
func (c *Console) adminRoutes() {}
