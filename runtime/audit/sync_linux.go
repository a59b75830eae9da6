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
	rc, err := osf.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: osf.Name(), Err: serr}
	}
	return nil
}

// syncDir makes a directory's entries (a new or renamed file's name) durable.
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
