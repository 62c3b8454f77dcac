package testpeer

import "syscall"

// sysProcAttr makes the kernel kill a peer when the test binary dies without stopping it
// (a panic, a timeout, a kill), so no peer outlives its tests.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
