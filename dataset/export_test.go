package dataset

// SetTestHook sets the function called at each step of creating a dataset and committing
// (see testHook). It is for tests that kill a process at a known point.
func SetTestHook(f func(event string)) { testHook = f }
