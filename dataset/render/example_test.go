package render_test

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/render"
)

// Show a row in a table cell by cell, and as JSON.
func Example() {
	schema := dataset.NewSchema(
		dataset.Column{Name: "photo", Type: dataset.T(dataset.Image)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text), Nullable: true},
		dataset.Column{Name: "mask", Type: dataset.TensorOf(dataset.Uint8, 4)},
	)
	row := dataset.Row{
		"photo": dataset.ImageValue{Format: "jpeg", Data: make([]byte, 12600)},
		"mask":  []byte{0, 1, 1, 0},
	}
	for _, c := range schema.Columns {
		fmt.Printf("%s: %s\n", c.Name, render.Short(c, row[c.Name]))
	}
	json.NewEncoder(os.Stdout).Encode(render.Row{Columns: schema.Columns, Values: dataset.Row{"label": "cat", "mask": []byte{1, 2, 3, 4}}})
	// Output:
	// photo: <image jpeg 12.3 KiB>
	// label: null
	// mask: [0,1,1,0]
	// {"photo":null,"label":"cat","mask":[1,2,3,4]}
}

// Write a value as the file it stands for, as tarn ds get does.
func ExampleRaw() {
	c := dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(2)}
	os.Stdout.Write(render.Raw(c, []float32{0.5, -1}))
	os.Stdout.Write(render.Raw(dataset.Column{Name: "label", Type: dataset.T(dataset.Text)}, "cat\n"))
	// Output:
	// [0.5,-1]
	// cat
}
