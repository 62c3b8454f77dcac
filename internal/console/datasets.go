package console

// datasetRoutes registers the pages of this file.
func (c *Console) datasetRoutes() {}
