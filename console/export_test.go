package console

import (
	"io/fs"
	"strings"
)

// AssetBytes is the size of the console's JavaScript and CSS, uncompressed.
func AssetBytes() int64 {
	var n int64
	fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".css")) {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return err
	})
	return n
}
