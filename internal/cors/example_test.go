package cors_test

import (
	"fmt"

	"github.com/tarnhq/tarn/internal/cors"
)

func ExampleNewRule() {
	fmt.Println(cors.NewRule("https://tarn.example.com"))
	// Output: AllowedOrigins [https://tarn.example.com], AllowedMethods [GET HEAD], AllowedHeaders [Range], ExposeHeaders [ETag Content-Range Content-Length Accept-Ranges], MaxAgeSeconds 3600
}

func ExampleMerge() {
	upload := cors.Rule{AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []string{"PUT"}}
	rules := cors.Merge([]cors.Rule{upload, cors.NewRule("https://old.example.com")}, cors.NewRule("https://tarn.example.com"))
	for _, r := range rules {
		fmt.Println(r.AllowedOrigins, r.AllowedMethods)
	}
	// Output:
	// [https://tarn.example.com] [GET HEAD]
	// [https://app.example.com] [PUT]
	// [https://old.example.com] [GET HEAD]
}

func ExampleParseOrigin() {
	o, err := cors.ParseOrigin("HTTPS://Tarn.Example.com/")
	fmt.Println(o, err)
	_, err = cors.ParseOrigin("https://tarn.example.com/console")
	fmt.Println(err)
	// Output:
	// https://tarn.example.com <nil>
	// origin "https://tarn.example.com/console": an origin has no path, query or fragment; give scheme://host[:port], such as https://tarn.example.com
}
