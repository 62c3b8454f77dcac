//go:build !linux

package testpeer

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; the helpers stop their peers.
func sysProcAttr() *syscall.SysProcAttr { return nil }
