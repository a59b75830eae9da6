// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package audit

import "errors"

// ErrFreeSpaceUnknown is FreeSpace's error where the system's free space
// cannot be read.
var ErrFreeSpaceUnknown = errors.New("audit: free space is not known on this system")

// FreeSpace returns the bytes still free on the file system that holds
// path. On this system it cannot tell, and returns ErrFreeSpaceUnknown;
// callers then shed nothing.
func FreeSpace(string) (uint64, error) { return 0, ErrFreeSpaceUnknown }
