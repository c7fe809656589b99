package boltstore

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data, and its metadata only where reading the data back needs it (a new size).
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
