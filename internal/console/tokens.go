package console

// tokenRoutes registers the pages of this file.
func (c *Console) tokenRoutes() {}
