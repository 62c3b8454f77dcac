package console

// identityRoutes registers the pages of this file.
func (c *Console) identityRoutes() {}
