package console

// storageRoutes registers the pages of this file.
func (c *Console) storageRoutes() {}
