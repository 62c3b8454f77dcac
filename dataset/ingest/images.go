package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Image is an image file found below a folder.
type Image struct {
	Path   string  // the file on disk
	Name   string  // its path below the folder, with slashes: the filename column
	Format string  // "jpeg", "png", …: from the extension, or "" when Sniff must tell
	Label  *string // nil: no label
}

// imageExts maps the extensions of image files to their formats.
var imageExts = map[string]string{
	".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".gif": "gif", ".webp": "webp",
	".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff",
}

// formatOf returns the format of images with the extension ext (".JPG").
func formatOf(ext string) (string, bool) {
	f, ok := imageExts[strings.ToLower(ext)]
	return f, ok
}

func extList() string {
	var exts []string
	for e := range imageExts {
		exts = append(exts, e)
	}
	sort.Strings(exts)
	return strings.Join(exts, " ")
}

// FindImages returns the image files below the local directory dir, in path order, with
// their labels. Images are recognised by their extension (.jpg .jpeg .png .gif .webp .bmp
// .tif .tiff) or, failing that, by their first bytes (Sniff); hidden files and folders are
// skipped, and symbolic links count when they lead to a file.
//
// labels, when not empty, is a CSV file of filename,label lines, with an optional header
// line "filename,label" (a byte order mark is allowed); filename is the path below dir or
// the file's base name. Without it, class folders are labels: an image in dir/cat/ is
// labelled "cat". Images without a label have none. FindImages fails when dir is missing,
// not a directory or holds no images, or when the labels file cannot be read, naming the
// line of a malformed one.
func FindImages(dir, labels string) ([]Image, error) {
	images, err := findImages(dir)
	if err != nil {
		return nil, err
	}
	var byName map[string]string
	if labels != "" {
		if byName, err = readLabels(labels); err != nil {
			return nil, err
		}
	}
	for i := range images {
		im := &images[i]
		if labels != "" {
			l, ok := byName[im.Name]
			if !ok {
				l, ok = byName[path.Base(im.Name)]
			}
			if ok {
				im.Label = &l
			}
		} else if d, _, ok := strings.Cut(im.Name, "/"); ok {
			im.Label = &d
		}
	}
	return images, nil
}

func findImages(dir string) ([]Image, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	var out []Image
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", p, unwrapPath(err))
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 { // a link to an image counts; to a folder, not
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		format, ok := formatOf(filepath.Ext(p))
		if !ok {
			if format, err = sniffFile(p); err != nil {
				return err
			}
			if format == "" {
				return nil // not an image: labels.csv, README, …
			}
		}
		out = append(out, Image{Path: p, Name: filepath.ToSlash(rel), Format: format})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no images", dir)
	}
	return out, nil
}

// sniffFile returns the image format of the file at p from its first bytes, or "".
func sniffFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, unwrapPath(err))
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return Sniff(buf[:n]), nil
}

// Sniff returns the image format of data from its first bytes ("jpeg", "png", "gif",
// "webp", "bmp"), or "" when data is not an image it knows.
func Sniff(data []byte) string {
	ct := http.DetectContentType(data)
	if f, ok := strings.CutPrefix(ct, "image/"); ok {
		return strings.TrimPrefix(f, "x-")
	}
	return ""
}

// unwrapPath drops the operation and path of a *fs.PathError, which the caller names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readLabels reads a CSV file of filename,label lines.
func readLabels(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read labels %s: %w", file, unwrapPath(err))
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	out := map[string]string{}
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("read labels %s: line %d: %v (want filename,label)", file, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("read labels %s: %w", file, err)
		}
		if first {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff") // a byte order mark, as spreadsheets write
		}
		name := strings.TrimPrefix(filepath.ToSlash(strings.TrimSpace(rec[0])), "./")
		if first && strings.EqualFold(name, "filename") && strings.EqualFold(strings.TrimSpace(rec[1]), "label") {
			continue
		}
		if name == "" {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("read labels %s: line %d: the filename is empty", file, line)
		}
		out[name] = strings.TrimSpace(rec[1])
	}
	return out, nil
}
