package location_test

import (
	"fmt"

	"github.com/tarnhq/tarn/location"
)

func ExampleParse() {
	l, err := location.Parse("gcs://my-bucket/datasets/coco/")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l.Scheme, l.Bucket, l.Path)
	fmt.Println(l) // canonical form: the alias and the trailing slash are gone

	key, _ := location.Parse("al://acme/coco/train/0.parquet")
	fmt.Println(key.Org, key.Dataset, key.Path)

	_, err = location.Parse("s3://my-bucket/datasets/../secrets")
	fmt.Println(err)
	_, err = location.Parse("http://169.254.169.254/latest/meta-data/")
	fmt.Println(err)
	// Output:
	// gs my-bucket datasets/coco
	// gs://my-bucket/datasets/coco
	// acme coco train/0.parquet
	// invalid location "s3://my-bucket/datasets/../secrets": ".." path segments are not allowed
	// invalid location "http://169.254.169.254/latest/meta-data/": unsupported scheme "http"; use al, s3, gs, az, file or mem
}

func ExampleLocation_Join() {
	root, _ := location.Parse("s3://my-bucket/datasets/coco")
	l, err := root.Join("data/part-0.parquet")
	fmt.Println(l, err, l.Within(root))
	_, err = root.Join("../other")
	fmt.Println(err)
	// Output:
	// s3://my-bucket/datasets/coco/data/part-0.parquet <nil> true
	// invalid location "s3://my-bucket/datasets/coco/../other": ".." path segments are not allowed
}
