package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	rootKey       = "tarn.json"
	versionsDir   = "versions/"
	dataDir       = "data/"
	formatName    = "tarn-dataset"
	formatVersion = 1
	// maxManifestBytes bounds what a reader accepts as a manifest.
	maxManifestBytes = 64 << 20
)

// rootFile is tarn.json.
type rootFile struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	ID      string `json:"id"`
}

// manifest is versions/v%020d.json: a complete description of one version. It lists every
// data file of the version, not only those the commit added, so that opening any version
// reads one manifest.
type manifest struct {
	Version int64     `json:"version"`
	Parent  int64     `json:"parent"` // 0 for the first version
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
	Schema  Schema    `json:"schema"`
	Files   []File    `json:"files"`
	Rows    int64     `json:"rows"`
	Source  *Source   `json:"source,omitempty"` // where the version's rows came from
}

// File is one data file of a version.
type File struct {
	// Path is the key of the file relative to the dataset root: data/<uuid>.parquet.
	Path  string `json:"path"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

var (
	versionName = regexp.MustCompile(`^v[0-9]{20}\.json$`)
	dataName    = regexp.MustCompile(`^data/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.parquet$`)
)

func versionKey(v int64) string { return fmt.Sprintf("%sv%020d.json", versionsDir, v) }

// parseVersionKey returns the version of a key under versions/, or false for anything that
// is not a manifest name (temporary files, strays).
func parseVersionKey(key string) (int64, bool) {
	name, ok := strings.CutPrefix(key, versionsDir)
	if !ok || !versionName.MatchString(name) {
		return 0, false
	}
	v, err := strconv.ParseInt(name[1:21], 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}

// decodeManifest parses and checks a manifest. It never panics; every error says what is
// wrong, and the caller adds the file name.
func decodeManifest(b []byte) (*manifest, error) {
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("manifest is larger than %d bytes", maxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("corrupt manifest: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("corrupt manifest: data after the JSON object")
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("corrupt manifest: %w", err)
	}
	return &m, nil
}

func (m *manifest) check() error {
	if m.Version <= 0 {
		return fmt.Errorf("version %d is not positive", m.Version)
	}
	if m.Parent < 0 || m.Parent >= m.Version {
		return fmt.Errorf("parent %d of version %d", m.Parent, m.Version)
	}
	if err := m.Schema.Validate(); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	var rows int64
	seen := map[string]bool{}
	for _, f := range m.Files {
		if !dataName.MatchString(f.Path) {
			return fmt.Errorf("data file %q: not a data file name", f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("data file %q is listed twice", f.Path)
		}
		seen[f.Path] = true
		if f.Rows <= 0 || f.Bytes <= 0 {
			return fmt.Errorf("data file %q: %d rows, %d bytes", f.Path, f.Rows, f.Bytes)
		}
		if rows > (1<<62)-f.Rows {
			return fmt.Errorf("data file %q: row count overflows", f.Path)
		}
		rows += f.Rows
	}
	if rows != m.Rows {
		return fmt.Errorf("rows %d, but the data files hold %d", m.Rows, rows)
	}
	if m.Source != nil {
		if err := m.Source.check(m.Schema); err != nil {
			return fmt.Errorf("source: %w", err)
		}
	}
	return nil
}

func encodeManifest(m *manifest) []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // a manifest holds only marshalable types
	}
	return append(b, '\n')
}
