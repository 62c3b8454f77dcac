package dataset

import (
	"bytes"
	"encoding/binary"
	"image"
	_ "image/gif" // image.DecodeConfig reads GIF headers
	_ "image/jpeg"
	_ "image/png"
)

// imageSize returns the width and height of an encoded image from its header, without
// decoding its pixels: PNG, JPEG and GIF through image.DecodeConfig, WebP and BMP here. It
// returns 0, 0 for other formats and unreadable headers.
func imageSize(data []byte) (w, h int64) {
	switch {
	case len(data) >= 30 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return webpSize(data)
	case len(data) >= 26 && string(data[:2]) == "BM":
		w := int32(binary.LittleEndian.Uint32(data[18:]))
		h := int32(binary.LittleEndian.Uint32(data[22:]))
		return int64(max(w, 0)), int64(max(h, -h))
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0
	}
	return int64(cfg.Width), int64(cfg.Height)
}

// webpSize reads the size of a WebP image from its first chunk: VP8 (lossy), VP8L
// (lossless) or VP8X (extended).
func webpSize(data []byte) (w, h int64) {
	chunk, body := string(data[12:16]), data[20:]
	switch {
	case chunk == "VP8 " && len(body) >= 10 && body[3] == 0x9d && body[4] == 0x01 && body[5] == 0x2a:
		return int64(binary.LittleEndian.Uint16(body[6:]) & 0x3fff), int64(binary.LittleEndian.Uint16(body[8:]) & 0x3fff)
	case chunk == "VP8L" && len(body) >= 5 && body[0] == 0x2f:
		bits := binary.LittleEndian.Uint32(body[1:])
		return int64(bits&0x3fff) + 1, int64(bits>>14&0x3fff) + 1
	case chunk == "VP8X" && len(body) >= 10:
		u24 := func(b []byte) int64 { return int64(b[0]) | int64(b[1])<<8 | int64(b[2])<<16 }
		return u24(body[4:]) + 1, u24(body[7:]) + 1
	}
	return 0, 0
}
