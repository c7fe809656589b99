package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// compactTxSize is how many bytes of data one transaction of Compact copies.
const compactTxSize = 64 << 20

// Compact rewrites the database under path (a directory or a ".db" file, as Open takes it) into a fresh file that
// holds only the live records, and puts it in place of the old one: bbolt reuses freed pages but never clears them,
// so a value overwritten or deleted (a secret in the clear before sealing, a secret sealed under a retired operator
// key) stays readable in the file until its page is reused. Compact copies every bucket into a new file in the same
// directory, syncs it, renames it over the old file and syncs the directory; a crash at any point leaves either the
// old file or the new one, both complete. Publishes journaled past the file's last checkpoint are applied to it
// first. The store must not be open: Compact takes the file lock (ErrLocked when
// another Store holds it). It is a no-op when there is no file.
//
// Copies made before (backups, snapshots of the volume, the filesystem's own free blocks) are not touched.
func Compact(path string) error {
	file := path
	if !strings.HasSuffix(path, ".db") {
		file = filepath.Join(path, FileName)
	}
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if fi, err := os.Stat(file + JournalSuffix); err == nil && fi.Size() > 0 {
		// Publishes journaled past the last checkpoint: an Open applies them, its Close empties the journal.
		s, err := Open(file, Options{})
		if err != nil {
			return fmt.Errorf("boltstore: compact: %w", err)
		}
		if err := s.Close(); err != nil {
			return fmt.Errorf("boltstore: compact: %w", err)
		}
	}
	src, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("boltstore: compact %s: %w", file, ErrLocked)
	}
	if err != nil {
		return fmt.Errorf("boltstore: compact %s: %w", file, err)
	}
	defer src.Close() // held (with its lock) until the new file is in place
	tmp := file + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("boltstore: compact %s: %w", file, err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("boltstore: compact %s: %w", file, err)
	}
	err = bolt.Compact(dst, src, compactTxSize) // every commit is fsync'd
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("boltstore: compact %s: %w", file, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("boltstore: compact %s: %w", file, err)
	}
	if err := syncDir(filepath.Dir(file)); err != nil {
		return fmt.Errorf("boltstore: compact %s: %w", file, err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
