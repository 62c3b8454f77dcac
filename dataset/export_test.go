package dataset

// SetTestHook sets the function called at each step of creating a dataset and committing
// (see testHook). It is for tests that kill a process at a known point.
func SetTestHook(f func(event string)) { testHook = f }

// SetPageIndex sets whether data files are written with a page index (they are, but older
// writers did not write one).
func SetPageIndex(on bool) { writePageIndex = on }
