// bench/go/latency — preempt_latency's workload on Go's runtime, the
// reference for signal-based preemption of goroutines.
//
// Usage: go_latency [-procs 1] [-seconds 3] [-wakeups 1000] [-hogs 3]
//                   [-sleep-us 2000] [-label TEXT] [-format text|csv|json]
//
// GOMAXPROCS is set to -procs (default 1: one P, as jiffy's one worker).
// -hogs goroutines spin on atomic.AddUint64 until told to stop (a loop
// without calls: only Go's asynchronous preemption, sysmon + SIGURG after
// 10 ms, can take the P from them); one goroutine loops: t0 = time.Now();
// time.Sleep(2 ms); lateness = time.Since(t0) - 2 ms. The run ends after
// -wakeups wake-ups or -seconds, whichever comes first.
//
// Standard library only (no module downloads); bench/latency.sh builds it
// with `go build` into the CMake build directory. The csv and json records
// match bench/latency_common.hpp.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync/atomic"
	"time"
)

type paddedCounter struct {
	n uint64
	_ [56]byte
}

func main() {
	procs := flag.Int("procs", 1, "GOMAXPROCS")
	seconds := flag.Float64("seconds", 3, "maximum run time in seconds")
	wakeups := flag.Int("wakeups", 1000, "stop after this many wake-ups")
	hogs := flag.Int("hogs", 3, "spinning goroutines")
	sleepUs := flag.Int("sleep-us", 2000, "sleep per iteration, microseconds")
	label := flag.String("label", "", "label of the record")
	format := flag.String("format", "text", "text, csv or json")
	flag.Parse()
	runtime.GOMAXPROCS(*procs)
	if *label == "" {
		*label = fmt.Sprintf("Go %s GOMAXPROCS=%d", runtime.Version(), *procs)
	}

	var stop int32
	work := make([]paddedCounter, *hogs)
	lateness := make([]int64, 0, *wakeups+1)
	sleep := time.Duration(*sleepUs) * time.Microsecond
	done := make(chan struct{})
	started := time.Now()

	go func() {
		for i := 0; i < *hogs; i++ {
			c := &work[i]
			go func() {
				for atomic.LoadInt32(&stop) == 0 {
					atomic.AddUint64(&c.n, 1)
				}
			}()
		}
		for len(lateness) < *wakeups {
			t0 := time.Now()
			time.Sleep(sleep)
			lateness = append(lateness, int64(time.Since(t0)-sleep))
			if atomic.LoadInt32(&stop) != 0 {
				break
			}
		}
		close(done)
	}()

	select {
	case <-done:
	case <-time.After(time.Duration(*seconds * float64(time.Second))):
	}
	ended := time.Now()
	var total uint64
	for i := range work {
		total += atomic.LoadUint64(&work[i].n)
	}
	atomic.StoreInt32(&stop, 1)
	<-done
	secs := ended.Sub(started).Seconds()

	sort.Slice(lateness, func(a, b int) bool { return lateness[a] < lateness[b] })
	n := len(lateness)
	rank := func(q float64) float64 {
		if n == 0 {
			return 0
		}
		r := int(q*float64(n) + 0.999999)
		if r < 1 {
			r = 1
		}
		if r > n {
			r = n
		}
		return float64(lateness[r-1]) / 1000
	}
	var sum float64
	for _, v := range lateness {
		sum += float64(v)
	}
	mean, max := 0.0, 0.0
	if n > 0 {
		mean = sum / float64(n) / 1000
		max = float64(lateness[n-1]) / 1000
	}
	p50, p99 := rank(0.50), rank(0.99)
	switch *format {
	case "csv":
		fmt.Printf("%s,%d,%.1f,%.1f,%.1f,%.1f,gomaxprocs=%d\n", *label, n, p50, p99, max, mean, *procs)
	case "json":
		fmt.Printf("{\"label\": \"%s\", \"wakeups\": %d, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, "+
			"\"mean_us\": %.1f, \"gomaxprocs\": %d, \"seconds\": %.3f, \"hog_iterations_per_s\": %.0f}\n",
			*label, n, p50, p99, max, mean, *procs, secs, float64(total)/secs)
	case "text":
		fmt.Printf("%s\n  wake-ups:  %d\n  lateness:  p50 %.1f us   p99 %.1f us   max %.1f us   mean %.1f us\n"+
			"  runtime:   %d hogs + 1 sleeper goroutine (time.Sleep %d us), ran %.2f s\n"+
			"  hogs:      %.3g iterations/s in total\n",
			*label, n, p50, p99, max, mean, *hogs, *sleepUs, secs, float64(total)/secs)
	default:
		fmt.Fprintf(os.Stderr, "go_latency: unknown -format %q\n", *format)
		os.Exit(2)
	}
}
