// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"os"
	"syscall"
)

// syncData makes the file's data durable. On Linux that is fdatasync: like
// fsync it waits for the data and for the metadata needed to read it back
// (the file's size), but not for timestamps.
func syncData(f File) error {
	osf, ok := f.(*os.File)
	if !ok {
		return f.Sync()
	}
	for {
		err := syscall.Fdatasync(int(osf.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: osf.Name(), Err: err}
			}
			return nil
		}
	}
}
