package disk

import "time"

// Hooks for the external tests of this package.

func SetWriteHook(s *Store, h func(path string, off int64, n int) error) { s.writeHook = h }
func SetNoSyncFS(s *Store, v bool)                                       { s.noSyncFS = v }
func SetNow(s *Store, now func() time.Time)                              { s.now = now }
func SetPartSyncAfter(s *Store, d time.Duration)                         { s.partSyncAfter = d }
