// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"os"
	"syscall"
)

// FreeSpace returns the bytes an unprivileged writer may still use on the
// file system that holds path (statfs's available blocks): the room left
// for the audit log when path is its directory.
func FreeSpace(path string) (uint64, error) {
	var st syscall.Statfs_t
	for {
		err := syscall.Statfs(path, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
		}
		break
	}
	return st.Bavail * uint64(st.Bsize), nil
}
