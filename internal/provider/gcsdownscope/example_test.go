package gcsdownscope_test

import (
	"fmt"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/location"
)

// The boundary of a read token for one dataset prefix: objectViewer on the bucket, where
// the object or the listed prefix starts with the dataset's prefix and its slash.
func ExampleBoundaryFor() {
	loc, _ := location.ParseStorage("gs://acme-data/coco")
	b := gcsdownscope.BoundaryFor(loc, api.ModeRead)
	fmt.Println(b.Rules[0].Resource)
	fmt.Println(b.Rules[0].Permissions)
	fmt.Println(b.Rules[0].Condition.Expression)
	// Output:
	// //storage.googleapis.com/projects/_/buckets/acme-data
	// [inRole:roles/storage.objectViewer]
	// resource.name.startsWith('projects/_/buckets/acme-data/objects/coco/') || api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('coco/')
}
