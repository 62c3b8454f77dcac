package azuritetest

import "syscall"

// sysProcAttr makes the kernel kill Azurite when the test binary dies without running Main's
// cleanup (a panic, a timeout, a kill), so no server outlives its tests.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
