package console

// memberRoutes registers the pages of this file.
func (c *Console) memberRoutes() {}
