//go:build !linux

package azuritetest

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; Main stops Azurite.
func sysProcAttr() *syscall.SysProcAttr { return nil }
