package console

// credsKeyRoutes registers the pages of this file.
func (c *Console) credsKeyRoutes() {}
