package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/webhookd/webhookd/internal/procs"
)

// What the host charges for waking up. At a steady, light load the gateway sleeps and wakes several times per
// delivery (the publish's request, its journal write's fdatasync, the POST's answer), and on a virtual machine each
// wake-up from idle costs CPU that no code of ours spends: the guest's halt and its wake, and caches gone cold
// meanwhile. That cost moves with the host and its spell, so the page measures it before its runs and prints it
// beside the machine: pages from different spells are then compared by what their host charged, not guessed at.

// probeGap is the idle pause of the probe: a steady 200 events/s leaves about this much between publishes.
const probeGap = 5 * time.Millisecond

// probeRecord is the size of the probe's durable write, about one journalled publish with 1 KiB of data.
const probeRecord = 1400

// hostCost is what the probe measured, CPU per operation of this process (user and system time).
type hostCost struct {
	Sleep     time.Duration // a sleep of probeGap
	Write     time.Duration // a pwrite of probeRecord bytes and an fdatasync, back to back
	WriteIdle time.Duration // the same after a sleep of probeGap, that sleep's own cost taken out
}

// probeHost measures hostCost with n operations of each kind, writing to a file in dir ("": the temp directory, where
// the gateways' data directories go) that it removes. It should run while nothing else in the process does.
func probeHost(dir string, n int) (hostCost, error) {
	f, err := os.CreateTemp(dir, "webhookd-bench-probe-")
	if err != nil {
		return hostCost{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// Written in place within the file's size, as the store's journal is, so that no write changes the size.
	const span = 512 << 10
	if err := f.Truncate(span); err != nil {
		return hostCost{}, err
	}
	if err := f.Sync(); err != nil {
		return hostCost{}, err
	}
	buf := make([]byte, probeRecord)
	off := int64(0)
	write := func() error {
		if _, err := f.WriteAt(buf, off); err != nil {
			return err
		}
		off = (off + probeRecord) % (span - probeRecord)
		return syscall.Fdatasync(int(f.Fd()))
	}
	var c hostCost
	// per runs op n times and returns its CPU per run.
	per := func(op func() error) (time.Duration, error) {
		c0, err := procs.CPUTime()
		if err != nil {
			return 0, err
		}
		for range n {
			if err := op(); err != nil {
				return 0, fmt.Errorf("probe write: %w", err)
			}
		}
		c1, err := procs.CPUTime()
		return (c1 - c0) / time.Duration(n), err
	}
	sleep := func() error { time.Sleep(probeGap); return nil }
	if c.Sleep, err = per(sleep); err != nil {
		return hostCost{}, err
	}
	if c.Write, err = per(write); err != nil {
		return hostCost{}, err
	}
	idle, err := per(func() error { _ = sleep(); return write() })
	if err != nil {
		return hostCost{}, err
	}
	c.WriteIdle = max(idle-c.Sleep, 0)
	return c, nil
}

// text is the page's line for c ("" when nothing was measured).
func (c hostCost) text() string {
	if c == (hostCost{}) {
		return ""
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }
	gap := probeGap.Milliseconds()
	return fmt.Sprintf("- Host wake-up cost (measured by the tool before its runs, CPU per operation): a %d ms sleep %s; "+
		"a %s-byte pwrite and fdatasync in the temp directory %s back to back, %s after %d ms idle\n",
		gap, us(c.Sleep), fmtInt(probeRecord), us(c.Write), us(c.WriteIdle), gap)
}
